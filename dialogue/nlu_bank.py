"""Training phrases for the baseline intent classifier, written for this project.

Each label gets hand-written stems, widened by crossing them with openers and objects. Outside
phrasings (Bitext, BANKING77) are kept out of training: they serve as an outside evaluation sample.
"""

from __future__ import annotations

from itertools import product

OPENERS = ("", "hi ", "hello, ", "hey ", "good morning, ", "um ", "please ", "so ")
ORDER_OBJECTS = (
    "my order",
    "the order",
    "an order",
    "my purchase",
    "the item I bought",
    "the headphones I ordered",
    "my last order",
    "order #W1234567",
    "the blue water bottle",
    "it",
)

REFUND_STEMS = (
    "where is my refund for {obj}",
    "what's the status of my refund for {obj}",
    "i want to check my refund",
    "has my refund been processed",
    "when will i get my money back for {obj}",
    "i returned {obj} and haven't been refunded",
    "refund status please",
    "did you receive my return of {obj}",
    "still waiting for the refund on {obj}",
    "my refund isn't showing on my card",
    "how long until the refund for {obj} arrives",
    "can you check if my refund went through",
    "i sent back {obj}, where is the money",
    "track my refund",
    "is my refund for {obj} complete",
    "i haven't seen the money from my return",
    "when do i get reimbursed for {obj}",
    "what happened to my refund",
    "check the refund on {obj}",
    "has the refund for {obj} been issued yet",
    "i returned {obj} 2 weeks ago and still no refund",
    "where is my $45 refund",
    "it's been 10 days since i sent back {obj}, where's the refund",
    "i was promised a refund of 120 dollars for {obj}",
)

CANCEL_STEMS = (
    "i want to cancel {obj}",
    "please cancel {obj}",
    "cancel {obj}",
    "can you cancel {obj} for me",
    "i need to cancel {obj}",
    "i'd like to cancel {obj}",
    "how do i cancel {obj}",
    "stop {obj} from shipping",
    "i don't want {obj} anymore, cancel it",
    "i ordered {obj} by mistake, please cancel",
    "can i still cancel {obj}",
    "cancel my purchase",
    "i changed my mind about {obj}",
    "call off {obj}",
    "remove {obj}, i want to cancel",
    "i want to cancel an order i placed",
    "is it too late to cancel {obj}",
    "please stop the order",
    "i placed {obj} 2 days ago, please cancel it",
    "cancel the 3 items i ordered this morning",
    "i want to cancel order 4471 please",
)

AFFIRM = (
    "yes",
    "yes please",
    "yeah",
    "yep",
    "sure",
    "correct",
    "that's right",
    "right",
    "ok",
    "okay",
    "yes, go ahead",
    "go ahead",
    "please do",
    "confirm",
    "i confirm",
    "yes cancel it",
    "yes that one",
    "absolutely",
    "definitely",
    "that's the one",
    "yup",
    "affirmative",
    "yes, please cancel it",
    "do it",
    "sounds good",
    "that is correct",
    "exactly",
)
DENY = (
    "no",
    "nope",
    "no thanks",
    "not that one",
    "don't",
    "do not cancel",
    "no, keep it",
    "wrong order",
    "that's not it",
    "no, that's wrong",
    "nah",
    "never mind",
    "cancel that",
    "leave it",
    "no don't cancel",
    "not right",
    "incorrect",
    "no i changed my mind",
    "keep the order",
    "please don't",
)
GREET = (
    "hi",
    "hello",
    "hey",
    "good morning",
    "good afternoon",
    "hi there",
    "hello there",
    "hey, anyone there?",
    "greetings",
    "hiya",
    "good evening",
)
GOODBYE = (
    "thanks",
    "thank you",
    "that's all",
    "no that's all, thanks",
    "bye",
    "goodbye",
    "nothing else",
    "that's everything",
    "thanks, bye",
    "great, thank you",
    "all good",
    "no, that's it",
    "thank you so much",
    "that will be all",
    "cheers",
    "appreciate it",
    "nope, that's all",
    "i'm all set",
)
HUMAN = (
    "i want to talk to a human",
    "speak to a person",
    "get me an agent",
    "human please",
    "can i talk to someone real",
    "representative",
    "transfer me to a real person",
    "i need a human agent",
    "let me speak to a manager",
    "connect me to customer service staff",
    "are you a bot? i want a person",
    "operator",
    "agent please",
    "talk to a live agent",
)
OUT_OF_SCOPE = (
    "i need to change my shipping address",
    "update my address",
    "i was charged twice",
    "i want to dispute a charge",
    "my package is damaged",
    "change the delivery address",
    "reset my password",
    "i can't log in",
    "i want to exchange an item for a different size",
    "do you have this in stock",
    "what are your store hours",
    "i want to open a new account",
    "there's an unauthorized charge on my card",
    "change my payment method",
    "apply a coupon to my order",
    "where is my package",
    "track my shipment",
    "my item arrived broken",
    "i want a price adjustment",
    "delete my account",
    "update my email address",
    "the product is defective and i want a replacement",
    "how do i become a gold member",
    "i'd like to leave a review",
)
INFORM = (
    "my email is jane.doe@example.com",
    "it's bob@example.org",
    "jane doe 94107",
    "my name is john smith and my zip is 10001",
    "zip code 60614",
    "the order number is W1234567",
    "#W7654321",
    "it's the red sneakers",
    "the one from last week",
    "the coffee maker",
    "ordered it by mistake",
    "i no longer need it",
    "found a better price elsewhere",
    "it's taking too long to arrive",
    "maria lopez",
    "02134",
    "the second one",
    "the first one",
    "my most recent order",
    "the bluetooth speaker",
    "alex.kim@example.net",
)


def _expand(stems: tuple[str, ...], *, objects: tuple[str, ...] = ORDER_OBJECTS) -> list[str]:
    phrases: list[str] = []
    for stem, opener in product(stems, OPENERS[:4]):
        if "{obj}" in stem:
            phrases.extend(opener + stem.format(obj=obj) for obj in objects[:6])
        else:
            phrases.append(opener + stem)
    return phrases


def training_phrases() -> list[tuple[str, str]]:
    """(text, label) pairs for the intent classifier, deterministic and de-duplicated."""
    rows: list[tuple[str, str]] = []
    rows += [(t, "refund_status") for t in _expand(REFUND_STEMS)]
    rows += [(t, "cancel_order") for t in _expand(CANCEL_STEMS)]
    rows += [(t, "affirm") for t in AFFIRM]
    rows += [(t, "deny") for t in DENY]
    rows += [(t, "greet") for t in GREET]
    rows += [(t, "goodbye") for t in GOODBYE]
    rows += [(o + t, "human") for t, o in product(HUMAN, OPENERS[:3])]
    rows += [(o + t, "out_of_scope") for t, o in product(OUT_OF_SCOPE, OPENERS[:3])]
    rows += [(t, "inform") for t in INFORM]
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for text, label in rows:
        if text not in seen:
            seen.add(text)
            unique.append((text, label))
    return unique
