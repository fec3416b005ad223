"""Word pools and the product catalog generator of the synthetic world.

Everything here is plain data plus one deterministic function, :func:`build_catalog`, that draws
catalog item rows from a seeded :class:`random.Random`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FIRST_NAMES: tuple[str, ...] = tuple(
    """
    James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
    Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty
    Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua
    Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald
    Rebecca Jason Laura Edward Helen Jeffrey Sharon Ryan Cynthia Jacob Kathleen Gary Amy Nicholas
    Angela Eric Anna Jonathan Ruth Stephen Brenda Larry Pamela Justin Nicole Scott Katherine
    Brandon Samantha Benjamin Christine Samuel Emma Gregory Catherine Alexander Debra Patrick
    Rachel Frank Carolyn Raymond Janet Jack Maria Dennis Olivia Jerry Heather Tyler Diane Aaron
    Julie Jose Joyce Adam Victoria Nathan Kelly Henry Christina Zachary Lauren Douglas Joan Peter
    Evelyn Kyle Judith Noah Megan Ethan Andrea Jeremy Cheryl Walter Hannah Christian Jacqueline
    Keith Martha Roger Madison Terry Teresa Austin Gloria Sean Sara Gerald Janice Carl Ann Harold
    Kathryn Dylan Abigail Arthur Sophia Lawrence Frances Jordan Jean Jesse Alice Bryan Judy Billy
    Isabella Bruce Julia Gabriel Grace Logan Amber Alan Denise Juan Danielle Wayne Marilyn Elijah
    Beverly Randy Charlotte Roy Natalie Vincent Theresa Ralph Diana Eugene Brittany Russell Doris
    Bobby Kayla Mason Alexis Philip Lori Louis Marie Aisha Wei Priya Hiroshi Mei Arjun Fatima Omar
    Yuki Carlos Sofia Diego Lucia Mateo Valentina Ahmed Leila Kwame Amara Chen Ananya Ravi Sakura
    Mohammed Zainab Javier Camila Ivan Olga Dmitri Nadia Kenji Hana Tariq Yasmin Emeka Chioma Minh
    Linh Raj Deepa Santiago Ximena Oluwaseun Ngozi Hamid Parisa Jin Soo Anh Tuan Rafael Beatriz
    """.split()
)

LAST_NAMES: tuple[str, ...] = tuple(
    """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
    Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
    Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
    Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
    Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
    Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton
    Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
    Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington
    Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
    Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black
    Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson
    Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kumar Singh Shah Wang Li Zhang Liu
    Yamamoto Tanaka Suzuki Sato Nakamura Park Choi Kang Okafor Adeyemi Mensah Haddad Nasser Khan
    Ali Hussain Rahman Ivanov Petrov Novak Kowalski Nielsen Larsen Rossi Bianchi Costa Ferreira
    OBrien Doyle Fitzgerald Schneider Fischer Weber Becker Dubois Laurent Moreau Pham Vu
    """.split()
)

CARD_BRANDS: tuple[str, ...] = ("Visa", "Mastercard", "Amex")
CARRIERS: tuple[str, ...] = ("UPS", "FedEx", "USPS", "DHL")
RETURN_REASONS: tuple[str, ...] = (
    "wrong_size",
    "damaged",
    "not_as_described",
    "changed_mind",
    "defective",
    "arrived_late",
)
REFUND_FAILURES: tuple[str, ...] = (
    "card expired",
    "card closed by issuer",
    "PayPal account restricted",
    "bank declined the credit",
    "account details mismatch",
)

_COLORS = ("black", "white", "blue", "red", "green", "gray", "navy", "pink", "purple", "beige")
_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
_SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")


@dataclass(frozen=True)
class ProductSpec:
    """One kind of product: its noun, title template, attribute choices and price range."""

    category: str
    noun: str
    title: str
    attrs: dict[str, tuple[str, ...]]
    low: float
    high: float
    use: str


def _p(
    category: str,
    noun: str,
    title: str,
    attrs: dict[str, tuple[str, ...]],
    price: tuple[float, float],
    use: str,
) -> ProductSpec:
    return ProductSpec(category, noun, title, attrs, price[0], price[1], use)


_MAT_BOTTLE = ("stainless steel", "glass", "plastic")
# fmt: off
PRODUCT_SPECS: tuple[ProductSpec, ...] = (
    # kitchen
    _p("kitchen", "water bottle", "{color} {material} Water Bottle {capacity}",
       {"color": _COLORS, "material": _MAT_BOTTLE, "capacity": ("500ml", "750ml", "1000ml")},
       (12, 45), "keeping drinks cold on the go"),
    _p("kitchen", "coffee maker", "{color} {type} Coffee Maker, {capacity}",
       {"color": ("black", "silver", "red", "white"), "type": ("drip", "pour-over", "single-serve"),
        "capacity": ("4 cups", "8 cups", "12 cups")}, (29, 189), "brewing coffee at home"),
    _p("kitchen", "frying pan", "{size} {material} Frying Pan",
       {"size": ("8-inch", "10-inch", "12-inch"), "material": ("cast iron", "nonstick", "copper")},
       (19, 89), "everyday cooking"),
    _p("kitchen", "electric kettle", "{color} {material} Electric Kettle {capacity}",
       {"color": ("black", "white", "silver"), "material": ("glass", "stainless steel"),
        "capacity": ("1L", "1.5L", "1.7L")}, (24, 79), "boiling water quickly"),
    _p("kitchen", "blender", "{color} {power} Countertop Blender",
       {"color": ("black", "red", "white"), "power": ("600W", "1000W", "1500W")}, (39, 199),
       "smoothies and soups"),
    _p("kitchen", "knife set", "{count}-Piece {material} Knife Set",
       {"count": ("5", "8", "12"), "material": ("stainless steel", "carbon steel", "ceramic")},
       (35, 220), "slicing and dicing"),
    # electronics
    _p("electronics", "headphones", "{color} {connectivity} {feature} Headphones",
       {"color": ("black", "white", "silver", "blue"), "connectivity": ("wireless", "wired"),
        "feature": ("noise-cancelling", "over-ear", "studio")}, (39, 349), "listening to music"),
    _p("electronics", "bluetooth speaker", "{color} {size} Bluetooth Speaker",
       {"color": ("black", "blue", "red", "green"), "size": ("mini", "portable", "party")},
       (25, 179), "music indoors and out"),
    _p("electronics", "earbuds", "{color} Wireless Earbuds, {feature}",
       {"color": ("black", "white", "blue"),
        "feature": ("noise-cancelling", "sport fit", "compact")},
       (29, 229), "calls and music"),
    _p("electronics", "portable charger", "{color} {capacity} Portable Charger",
       {"color": ("black", "white", "blue"), "capacity": ("5000mAh", "10000mAh", "20000mAh")},
       (15, 69), "charging phones on the go"),
    _p("electronics", "smart watch", "{color} Smart Watch with {band} Band",
       {"color": ("black", "silver", "gold", "rose gold"),
        "band": ("silicone", "leather", "metal")},
       (99, 399), "tracking fitness and notifications"),
    _p("electronics", "tablet", "{size} Tablet {storage}, {color}",
       {"size": ("8-inch", "10-inch", "12-inch"), "storage": ("64GB", "128GB", "256GB"),
        "color": ("black", "silver", "gold")}, (149, 899), "reading, streaming and browsing"),
    _p("electronics", "keyboard", "{color} {switch} Mechanical Keyboard",
       {"color": ("black", "white", "gray"), "switch": ("linear", "tactile", "clicky")},
       (49, 179), "typing and gaming"),
    # apparel
    _p("apparel", "t-shirt", "{color} {material} {style} T-Shirt, Size {size}",
       {"color": _COLORS, "material": ("cotton", "polyester"), "style": ("crew neck", "v-neck"),
        "size": _SIZES}, (12, 39), "everyday wear"),
    _p("apparel", "hoodie", "{color} {material} Pullover Hoodie, Size {size}",
       {"color": _COLORS, "material": ("cotton", "fleece"), "size": _SIZES}, (29, 79),
       "cool evenings"),
    _p("apparel", "rain jacket", "{color} Waterproof Rain Jacket, Size {size}",
       {"color": ("black", "navy", "yellow", "green", "red"), "size": _SIZES}, (49, 169),
       "staying dry in the rain"),
    _p("apparel", "jeans", "{fit} {color} Denim Jeans, {waist}W",
       {"fit": ("slim", "straight", "relaxed"), "color": ("blue", "black", "gray"),
        "waist": ("28", "30", "32", "34", "36")}, (35, 110), "casual wear"),
    _p("apparel", "sweater", "{color} {material} Knit Sweater, Size {size}",
       {"color": _COLORS, "material": ("wool", "cashmere", "cotton"), "size": _SIZES}, (39, 189),
       "layering in cold weather"),
    # footwear
    _p("footwear", "running shoes", "{color} {type} Running Shoes, Size {size}",
       {"color": ("black", "white", "blue", "red", "gray"), "type": ("road", "trail"),
        "size": _SHOE_SIZES}, (59, 179), "running and training"),
    _p("footwear", "hiking boots", "{color} {material} Hiking Boots, Size {size}",
       {"color": ("brown", "black", "gray"), "material": ("leather", "synthetic"),
        "size": _SHOE_SIZES}, (79, 229), "hiking rough trails"),
    _p("footwear", "sneakers", "{color} {style} Canvas Sneakers, Size {size}",
       {"color": ("white", "black", "navy", "red"), "style": ("low-top", "high-top"),
        "size": _SHOE_SIZES}, (39, 99), "everyday casual wear"),
    _p("footwear", "sandals", "{color} {material} Sandals, Size {size}",
       {"color": ("brown", "black", "tan"), "material": ("leather", "rubber"),
        "size": _SHOE_SIZES}, (19, 89), "warm days"),
    _p("footwear", "slippers", "{color} {material} House Slippers, Size {size}",
       {"color": ("gray", "navy", "pink", "beige"), "material": ("wool", "memory foam"),
        "size": _SHOE_SIZES}, (15, 59), "lounging at home"),
    # home
    _p("home", "towel set", "{color} {material} Bath Towel Set, {count} Pieces",
       {"color": ("white", "gray", "navy", "beige"), "material": ("cotton", "bamboo"),
        "count": ("4", "6", "8")}, (25, 99), "the bathroom"),
    _p("home", "throw blanket", "{color} {material} Throw Blanket",
       {"color": _COLORS, "material": ("fleece", "wool", "cotton knit")}, (19, 89),
       "cozy nights on the couch"),
    _p("home", "scented candle", "{scent} Scented Candle, {size}",
       {"scent": ("lavender", "vanilla", "sandalwood", "citrus", "pine"),
        "size": ("8oz", "14oz", "22oz")}, (12, 45), "a relaxing atmosphere"),
    _p("home", "wall clock", "{color} {style} Wall Clock, {size}",
       {"color": ("black", "white", "wood", "gold"), "style": ("modern", "vintage", "minimalist"),
        "size": ("10-inch", "14-inch")}, (19, 79), "keeping time in any room"),
    _p("home", "air purifier", "{color} HEPA Air Purifier, {coverage}",
       {"color": ("white", "black"), "coverage": ("200 sq ft", "500 sq ft", "1000 sq ft")},
       (79, 349), "cleaner indoor air"),
    _p("home", "vacuum cleaner", "{color} {type} Vacuum Cleaner",
       {"color": ("red", "gray", "purple", "black"),
        "type": ("cordless stick", "robot", "upright")},
       (99, 499), "keeping floors clean"),
    # furniture
    _p("furniture", "office chair", "{color} {material} Ergonomic Office Chair",
       {"color": ("black", "gray", "blue"), "material": ("mesh", "leather", "fabric")}, (119, 449),
       "long days at the desk"),
    _p("furniture", "bookshelf", "{color} {material} {shelves}-Shelf Bookshelf",
       {"color": ("white", "walnut", "black", "oak"), "material": ("wood", "metal"),
        "shelves": ("3", "4", "5")}, (59, 299), "storing books and decor"),
    _p("furniture", "coffee table", "{shape} {material} Coffee Table, {color}",
       {"shape": ("round", "rectangular"), "material": ("wood", "glass", "marble"),
        "color": ("white", "walnut", "black")}, (89, 449), "the living room"),
    _p("furniture", "desk", "{color} {type} Desk, {width}",
       {"color": ("white", "black", "oak"), "type": ("standing", "writing", "corner"),
        "width": ("40-inch", "48-inch", "60-inch")}, (119, 599), "working from home"),
    _p("furniture", "bar stool", "{color} {material} Bar Stool, Set of {count}",
       {"color": ("black", "gray", "walnut"), "material": ("wood", "metal", "velvet"),
        "count": ("2", "4")}, (69, 299), "kitchen islands"),
    # outdoor
    _p("outdoor", "tent", "{color} {capacity} Camping Tent",
       {"color": ("green", "orange", "blue", "gray"), "capacity": ("2-person", "4-person",
        "6-person")}, (79, 399), "camping trips"),
    _p("outdoor", "sleeping bag", "{color} {rating} Sleeping Bag",
       {"color": ("green", "blue", "red", "black"), "rating": ("20F", "35F", "50F")}, (39, 199),
       "sleeping outdoors"),
    _p("outdoor", "backpack", "{color} {capacity} Hiking Backpack",
       {"color": ("black", "green", "gray", "orange"), "capacity": ("20L", "35L", "50L")},
       (39, 189), "day hikes and travel"),
    _p("outdoor", "camping lantern", "{color} {power} LED Camping Lantern",
       {"color": ("black", "green", "orange"), "power": ("battery", "rechargeable", "solar")},
       (15, 59), "lighting up the campsite"),
    _p("outdoor", "cooler", "{color} {capacity} Hard Cooler",
       {"color": ("white", "blue", "tan", "red"), "capacity": ("25qt", "45qt", "65qt")},
       (49, 299), "keeping food cold outdoors"),
    _p("outdoor", "hammock", "{color} {material} Camping Hammock",
       {"color": ("green", "blue", "orange", "gray"), "material": ("nylon", "cotton")}, (25, 89),
       "relaxing between trees"),
    # sports
    _p("sports", "yoga mat", "{color} {material} Yoga Mat, {thickness}",
       {"color": ("purple", "blue", "black", "pink", "green"), "material": ("PVC", "TPE",
        "natural rubber"), "thickness": ("4mm", "6mm", "8mm")}, (19, 89), "yoga and stretching"),
    _p("sports", "dumbbell set", "{material} Dumbbell Set, {weight}",
       {"material": ("iron", "rubber-coated", "neoprene"), "weight": ("5-25 lb", "30-50 lb",
        "55-75 lb")}, (39, 349), "strength training at home"),
    _p("sports", "bike helmet", "{color} {type} Bike Helmet, Size {size}",
       {"color": ("black", "white", "red", "blue"), "type": ("road", "mountain"),
        "size": ("S", "M", "L")}, (35, 149), "safe cycling"),
    _p("sports", "tennis racket", "{color} {weight} Tennis Racket",
       {"color": ("black", "blue", "red", "white"), "weight": ("260g", "285g", "300g")}, (49, 229),
       "playing tennis"),
    _p("sports", "resistance bands", "{level} Resistance Bands Set, {count} Bands",
       {"level": ("light", "medium", "heavy"), "count": ("3", "5")}, (12, 39), "home workouts"),
    # toys
    _p("toys", "jigsaw puzzle", "{theme} Jigsaw Puzzle, {pieces} Pieces",
       {"theme": ("animals", "art", "fantasy", "landscape", "city"),
        "pieces": ("500", "1000", "1500", "2000")}, (12, 39), "family puzzle nights"),
    _p("toys", "building blocks", "{theme} Building Blocks Set, {pieces} Pieces",
       {"theme": ("castle", "space", "city", "pirate"), "pieces": ("250", "500", "1000")},
       (19, 129), "creative play"),
    _p("toys", "plush toy", "{color} Plush {animal}, {size}",
       {"color": ("brown", "white", "gray", "pink"), "animal": ("bear", "bunny", "dinosaur", "fox"),
        "size": ("12-inch", "18-inch")}, (12, 45), "cuddling"),
    _p("toys", "remote control car", "{color} {scale} Remote Control Car",
       {"color": ("red", "blue", "yellow", "green"), "scale": ("1:16", "1:12", "1:10")},
       (29, 149), "racing fun"),
    _p("toys", "board game", "{theme} Strategy Board Game, {players} Players",
       {"theme": ("trading", "space", "farming", "mystery"), "players": ("2-4", "2-6")},
       (19, 69), "game nights"),
    # beauty
    _p("beauty", "electric toothbrush", "{color} Electric Toothbrush, {mode}",
       {"color": ("white", "black", "pink", "blue"), "mode": ("sonic", "rotating")}, (25, 199),
       "daily oral care"),
    _p("beauty", "hair dryer", "{color} {power} Ionic Hair Dryer",
       {"color": ("black", "pink", "white"), "power": ("1200W", "1875W")}, (29, 249),
       "fast drying"),
    _p("beauty", "perfume", "{scent} Eau de Parfum, {size}",
       {"scent": ("floral", "woody", "citrus", "oriental"), "size": ("30ml", "50ml", "100ml")},
       (35, 189), "a signature scent"),
    _p("beauty", "moisturizer", "{skin} Skin Daily Moisturizer, {size}",
       {"skin": ("dry", "oily", "sensitive", "normal"), "size": ("50ml", "100ml")}, (12, 79),
       "hydrated skin"),
    _p("beauty", "makeup kit", "{tone} Makeup Kit, {kit} Edition",
       {"tone": ("light", "medium", "dark"), "kit": ("basic", "professional")}, (29, 249),
       "everyday makeup"),
    _p("beauty", "shampoo", "{type} Shampoo, {size}",
       {"type": ("volumizing", "moisturizing", "clarifying", "color-safe"),
        "size": ("250ml", "500ml", "1L")}, (8, 39), "healthy hair"),
    _p("beauty", "nail polish set", "{finish} Nail Polish Set, {count} Colors",
       {"finish": ("matte", "glossy", "glitter"), "count": ("6", "12")}, (12, 45),
       "at-home manicures"),
    # books
    _p("books", "novel", "{genre} Novel Collection, {format}",
       {"genre": ("mystery", "science fiction", "romance", "fantasy", "historical", "thriller",
                  "literary"), "format": ("hardcover", "paperback", "large print")}, (12, 59),
       "reading for pleasure"),
    _p("books", "cookbook", "{cuisine} Cookbook, {format}",
       {"cuisine": ("Italian", "Mexican", "vegan", "Japanese", "baking", "Indian",
                    "Mediterranean"),
        "format": ("hardcover", "paperback", "spiral-bound")}, (15, 45), "trying new recipes"),
    _p("books", "travel guide", "{region} Travel Guide, {year} Edition",
       {"region": ("Japan", "Italy", "Mexico", "Iceland", "Portugal", "Spain", "Greece",
                   "Canada"), "year": ("2025", "2026")},
       (14, 35), "planning a trip"),
    _p("books", "coloring book", "{theme} Adult Coloring Book",
       {"theme": ("mandala", "botanical", "ocean", "city", "animal")}, (8, 19),
       "relaxing creativity"),
    _p("books", "picture book", "{theme} Children's Picture Book, {format}",
       {"theme": ("dinosaur", "bedtime", "ocean", "space", "farm"),
        "format": ("hardcover", "board book")}, (7, 22), "reading aloud with kids"),
    # office
    _p("office", "desk lamp", "{color} {power} LED Desk Lamp",
       {"color": ("black", "white", "silver"), "power": ("USB", "plug-in", "battery")}, (19, 89),
       "lighting a workspace"),
    _p("office", "notebook", "{color} {format} Notebook, {size}",
       {"color": ("black", "red", "blue", "green"), "format": ("dotted", "lined", "blank"),
        "size": ("A5", "A4")}, (6, 29), "notes and journaling"),
    _p("office", "fountain pen", "{color} Fountain Pen, {nib} Nib",
       {"color": ("black", "blue", "silver", "red"), "nib": ("fine", "medium", "broad")},
       (19, 159), "handwriting"),
    _p("office", "monitor stand", "{color} {material} Monitor Stand",
       {"color": ("black", "white", "walnut"), "material": ("wood", "aluminum")}, (25, 89),
       "an ergonomic desk setup"),
    _p("office", "desk organizer", "{color} {material} Desk Organizer",
       {"color": ("black", "white", "gray"), "material": ("mesh", "bamboo", "acrylic")}, (12, 45),
       "a tidy desk"),
    _p("office", "stapler", "{color} {type} Stapler",
       {"color": ("black", "silver", "blue"), "type": ("desktop", "heavy-duty")}, (9, 39),
       "binding papers"),
    # garden
    _p("garden", "garden hose", "{color} {material} Garden Hose, {length}",
       {"color": ("green", "blue", "black"), "material": ("rubber", "vinyl", "expandable"),
        "length": ("25ft", "50ft", "100ft")}, (19, 89), "watering the garden"),
    _p("garden", "pruning shears", "{type} Pruning Shears, {grip} Grip",
       {"type": ("bypass", "anvil", "ratchet"), "grip": ("soft", "ergonomic")}, (12, 49),
       "trimming plants"),
    _p("garden", "planter", "{color} {material} Planter Pot, {size}",
       {"color": ("white", "terracotta", "gray", "black"), "material": ("ceramic", "plastic",
        "concrete"), "size": ("6-inch", "10-inch", "14-inch")}, (12, 79), "potted plants"),
    _p("garden", "watering can", "{color} {material} Watering Can, {capacity}",
       {"color": ("green", "gray", "copper"), "material": ("metal", "plastic"),
        "capacity": ("1 gal", "2 gal")}, (15, 49), "watering plants"),
    _p("garden", "bird feeder", "{material} {style} Bird Feeder",
       {"material": ("wood", "metal", "glass"), "style": ("hanging", "window", "tube")},
       (15, 59), "attracting birds"),
    # pet
    _p("pet", "pet bed", "{color} {material} Pet Bed, {size}",
       {"color": ("brown", "gray", "beige", "navy"), "material": ("memory foam", "fleece",
        "orthopedic"), "size": ("small", "medium", "large")}, (25, 129), "a comfortable nap"),
    _p("pet", "dog leash", "{color} {material} Dog Leash, {length}",
       {"color": ("black", "red", "blue", "pink"), "material": ("nylon", "leather", "rope"),
        "length": ("4ft", "6ft")}, (12, 45), "daily walks"),
    _p("pet", "cat tree", "{color} Cat Tree, {height}",
       {"color": ("beige", "gray", "brown"), "height": ("36-inch", "52-inch", "70-inch")},
       (39, 179), "climbing and scratching"),
    _p("pet", "pet water fountain", "{color} Pet Water Fountain, {capacity}",
       {"color": ("white", "blue", "gray"), "capacity": ("1.5L", "2.5L", "3L")}, (19, 59),
       "fresh drinking water"),
    _p("pet", "dog toy", "{material} {type} Dog Toy, {size}",
       {"material": ("rubber", "rope", "plush"), "type": ("chew", "tug", "squeaky"),
        "size": ("small", "medium", "large")}, (6, 25), "playtime"),
)
# fmt: on

CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(spec.category for spec in PRODUCT_SPECS))


def _cap(value: str) -> str:
    """Capitalize each word's first letter, leaving the rest alone ("750ml", "PVC" stay)."""
    return " ".join(word[:1].upper() + word[1:] for word in value.split(" "))


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    cents = rng.randrange(int(low * 100), int(high * 100) + 1)
    if rng.random() < 0.6:  # most retail prices end in .99 or .49
        cents = cents - cents % 100 + rng.choice((99, 49))
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def build_catalog(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Draw ``count`` catalog item rows (ids 1..count) spread round-robin over the categories.

    Args:
        rng: The world's random source (advanced by this call).
        count: How many items to draw.

    Returns:
        Row dicts for the ``catalog_items`` table with unique titles and SKUs.
    """
    by_category: dict[str, list[ProductSpec]] = {c: [] for c in CATEGORIES}
    for spec in PRODUCT_SPECS:
        by_category[spec.category].append(spec)
    used: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for index in range(count):
        specs = by_category[CATEGORIES[index % len(CATEGORIES)]]
        for attempt in range(200):
            spec = rng.choice(specs)
            attrs = {name: rng.choice(values) for name, values in spec.attrs.items()}
            title = spec.title.format(**{k: _cap(v) for k, v in attrs.items()})
            if attempt == 199:  # the category is exhausted: number the duplicate
                title = f"{title} (Model {used.get(title, 0) + 1})"
            if title not in used:
                break
        used[title] = used.get(title, 0) + 1
        detail = ", ".join(f"{name} {value}" for name, value in attrs.items())
        noun = spec.noun[:1].upper() + spec.noun[1:]
        rows.append(
            {
                "id": index + 1,
                "sku": f"SKU-{index + 1:06d}",
                "title": title,
                "category": spec.category,
                "attributes": {"noun": spec.noun, **attrs},
                "price": _money(rng, spec.low, spec.high),
                "description": f"{noun} ({detail}) made for {spec.use}.",
            }
        )
    return rows
