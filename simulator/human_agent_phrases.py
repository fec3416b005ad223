"""What the simulated human rep says: free-text phrasings per dialogue act, as plain data.

A reply is composed as ``[opener] [off-catalog before] core [off-catalog after] [closer]``; an
off-catalog fragment may instead replace the core (``two_things``) or the closer (``sign_off``).

- ``cores`` carry the act's content. ``{slot}`` placeholders are filled verbatim from the reply's
  slot values (store-formatted), so a core can state only facts the store holds; a core is usable
  only when every slot it names is present. Each act has at least one slot-free core to fall back
  on, and ``states`` names the slots the act is about (the catalog's slots for that act): the
  writer prefers the cores that state the most of them.
- ``openers`` and ``closers`` are optional framing in a rep's voice ("Let me pull that up...").
  They never state an account fact other than the first name.
- ``off_catalog`` fragments are things a rep does that no catalog template covers (see
  :data:`OFF_CATALOG_KINDS`); the act and the facts stay the same. Tips state only generic policy
  (cancel before shipping, refunds to the original payment method, gift card at once, card or
  PayPal in 5–7 business days), never an account fact that is not a slot. Every act has a
  slot-free fragment, so the off-catalog rate holds whatever slots a reply has. "Alex" is the
  rep's own (invented) name, used in introductions and sign-offs.

Acts that hand the contact to a human (``handoff``, ``handoff_requested``, ``out_of_scope``,
``refund_failed``) get only ``apology`` and ``empathy`` fragments: the rep may sympathise, but makes
no promise, gives no tip and asks nothing, because someone else takes over the contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

OffCatalogKind = Literal[
    "apology", "empathy", "introduction", "tip", "summary", "two_things", "sign_off"
]
Position = Literal["before", "after", "replace", "end"]

OFF_CATALOG_KINDS: Mapping[OffCatalogKind, Position] = MappingProxyType(
    {
        "apology": "before",  # "Sorry for the wait!"
        "empathy": "before",  # "I know waiting on a refund is no fun."
        "introduction": "after",  # "I'm Alex, by the way."
        "summary": "before",  # the order restated before the question
        "tip": "after",  # generic policy the customer did not ask about
        "two_things": "replace",  # one message asking for two things; replaces the core
        "sign_off": "end",  # a personal sign-off; replaces the closer
    }
)
"""Each off-catalog behaviour and where its fragment goes in the reply."""

HANDOFF_KINDS: frozenset[OffCatalogKind] = frozenset({"apology", "empathy"})
"""The only off-catalog behaviours allowed on acts whose action is a hand-off."""


@dataclass(frozen=True)
class OffCatalog:
    """One off-catalog fragment: a behaviour no template covers, with its text."""

    kind: OffCatalogKind
    text: str


@dataclass(frozen=True)
class ActPhrases:
    """Everything the rep can say for one dialogue act.

    Attributes:
        states: The slots the act is about (those of its catalog templates), sorted.
        cores: The act's content, with ``{slot}`` placeholders.
        openers: Optional first sentences; may name ``{first_name}``.
        closers: Optional last sentences; may name ``{first_name}``.
        off_catalog: Off-catalog fragments for this act.
    """

    states: tuple[str, ...]
    cores: tuple[str, ...]
    openers: tuple[str, ...] = ()
    closers: tuple[str, ...] = ()
    off_catalog: tuple[OffCatalog, ...] = ()


# ---- disambiguation lists -------------------------------------------------------------------
ORDER_OPTION_FORMATS: tuple[str, ...] = (
    "{order_id} ({item_summary}, placed {order_date}, {status})",
    "{order_id}: {item_summary}, ordered {order_date}, currently {status}",
    "{order_id} with {item_summary} from {order_date} ({status})",
    "{item_summary} ({order_id}, placed {order_date}, {status})",
    "{order_id}, {item_summary} (placed on {order_date}, status: {status})",
)
"""How one candidate order is described; every field is the store's value, verbatim."""

ORDER_OPTION_LISTS: tuple[Literal["semicolons", "or", "numbered"], ...] = (
    "semicolons",
    "or",
    "numbered",
)
"""How the candidates are joined: ``a; b; c``, ``a, b or c``, ``1) a, 2) b, 3) c``."""

# ---- shared framing -------------------------------------------------------------------------
LOOKUP_OPENERS: tuple[str, ...] = (
    "Let me pull that up...",
    "Thanks for waiting!",
    "Thanks for bearing with me.",
    "Okay, I've had a look.",
    "Alright, I've got it up here.",
    "One sec... okay, here it is.",
    "I've checked on that for you.",
)
INFO_CLOSERS: tuple[str, ...] = (
    "Hope that helps!",
    "Hope that clears things up.",
    "Let me know if any of that doesn't look right.",
    "Just shout if you have questions about it.",
)
ASK_CLOSERS: tuple[str, ...] = (
    "Thanks!",
    "Thanks so much.",
    "Appreciate it!",
    "Whenever you're ready.",
)
TRANSFER_CLOSERS: tuple[str, ...] = (
    "Please hold on for a moment.",
    "Thanks for your patience.",
    "Thanks for bearing with us.",
)
INPUT_CLOSERS: tuple[str, ...] = (
    "Thanks!",
    "I'll be right here.",
    "Sorry for the trouble!",
)
CANCEL_OPENERS: tuple[str, ...] = (
    "Thanks, {first_name}.",
    "Okay, I've got the order up.",
    "Let me take a look...",
    "Alright, I've found it.",
    "Thanks for waiting!",
)
WAIT_APOLOGIES: tuple[OffCatalog, ...] = (
    OffCatalog("apology", "Sorry for the wait!"),
    OffCatalog("apology", "Apologies for keeping you waiting."),
)
HANDOFF_SYMPATHY: tuple[OffCatalog, ...] = (
    OffCatalog("apology", "I'm sorry I couldn't sort this out for you myself."),
    OffCatalog("apology", "Sorry for the trouble today."),
    OffCatalog("empathy", "I know this has taken a while, and I really appreciate your patience."),
)
GENERIC_SIGN_OFFS: tuple[OffCatalog, ...] = (
    OffCatalog("sign_off", "Have a lovely rest of your day!"),
    OffCatalog("sign_off", "Take care, and thanks for being a customer."),
)

# ---- per act --------------------------------------------------------------------------------
_COMMON: dict[str, ActPhrases] = {
    "greeting": ActPhrases(
        states=(),
        openers=(
            "Hey there!",
            "Hi!",
            "Hello and welcome!",
            "Hi, thanks for getting in touch!",
            "Hey, thanks for messaging us.",
            "Good to have you here.",
        ),
        cores=(
            "What can I do for you today?",
            "How can I help?",
            "What can I help you sort out today?",
            "Tell me what you need and I'll take a look.",
            "What are you looking for help with?",
            "I'm here to help. What's up?",
            "Let me know what you need and we'll get it sorted.",
        ),
        closers=("I'm happy to help.", "Take your time."),
        off_catalog=(
            OffCatalog(
                "two_things",
                "What can I help with today? If it's about a specific order, feel free to "
                "send the order number along too.",
            ),
            OffCatalog("introduction", "My name's Alex and I'll be looking after you today."),
        ),
    ),
    "greeting_named": ActPhrases(
        states=("first_name",),
        cores=(
            "Hey {first_name}! What can I help you with?",
            "Hi {first_name}, nice to hear from you. What do you need today?",
            "Good to see you again, {first_name}! What's up?",
            "{first_name}, hi! How can I help out today?",
            "Hello {first_name}! What would you like me to look into?",
            "Hi {first_name}. Tell me what you need and I'll get on it.",
            "Good to hear from you, {first_name}. What brings you here today?",
            "Hi again! What can I help you with?",
        ),
        closers=("I'm all ears.", "Happy to help.", "Ask away!", "Take your time."),
        off_catalog=(
            OffCatalog(
                "two_things",
                "Hi {first_name}! Are you checking on a refund or looking to cancel something? "
                "If you have the order number handy, send that too.",
            ),
            OffCatalog(
                "two_things",
                "Hi there! What do you need today, and which order is it about?",
            ),
            OffCatalog("introduction", "I'm Alex, by the way, and I'll be helping you today."),
        ),
    ),
    "request_auth": ActPhrases(
        states=(),
        openers=(
            "Happy to help with that!",
            "Sure thing!",
            "I can definitely look into that.",
            "Absolutely, let's get this sorted.",
            "Thanks for reaching out!",
            "Of course!",
            "No problem at all.",
        ),
        cores=(
            "First, I just need to find your account. What's the email address you use with us?",
            "Could you send me the email on your account? Your full name plus zip code works "
            "as well.",
            "Can I get the email address tied to your account, or your full name and zip code?",
            "To pull up your account I'll need your email, or your first and last name along "
            "with your zip code.",
            "What email did you use when you signed up? If you're not sure, just give me your "
            "full name and zip.",
            "Let's start by verifying your account: either the email address on file, or your "
            "full name and zip code.",
            "I'll need to verify who I'm talking to first. What's the email address on the "
            "account?",
            "Mind sharing the email on your account so I can look you up? Name and zip code is "
            "fine too.",
        ),
        closers=("Thanks!", "Appreciate it.", "Once I have that I can take a look."),
        off_catalog=(
            OffCatalog(
                "two_things",
                "To get started, could you send me your email address (or full name and zip "
                "code) and, if you have it, the order number too? That'll save us a step.",
            ),
            OffCatalog(
                "two_things",
                "Can I get the email on your account and the order number you're asking "
                "about? If email doesn't work, your full name and zip code will do.",
            ),
            OffCatalog("empathy", "Sorry you've had to reach out about this."),
            OffCatalog("tip", "Your details are only used to find your account."),
        ),
    ),
    "request_auth_zip": ActPhrases(
        states=(),
        openers=(
            "Thanks!",
            "Perfect, thank you.",
            "Great, got your name.",
            "Okay, thanks for that.",
            "Got it, thanks.",
        ),
        cores=(
            "What zip code is on the account?",
            "Can you also tell me the zip code on file?",
            "And the zip code that goes with it?",
            "I'll just need the zip code for the account as well.",
            "Now I just need your zip code to find the right account.",
            "What's the zip code you have registered with us?",
            "Could you send over the zip code associated with the account too?",
        ),
        closers=("Then I can pull you up.", "That's the last piece I need."),
        off_catalog=(
            OffCatalog(
                "two_things",
                "Could you also send the zip code on the account, plus the order number if "
                "you have it nearby?",
            ),
            OffCatalog(
                "apology", "Sorry for all the questions, it's just to keep your account safe."
            ),
        ),
    ),
    "auth_failed": ActPhrases(
        states=(),
        openers=("Hmm.", "Okay, so...", "Let me try that again... no luck."),
        cores=(
            "That didn't bring up an account on my end. Can you double-check the details and "
            "send them again?",
            "I'm not finding an account with those details. Could there be a typo somewhere?",
            "Nothing's coming up for that. Would you mind trying again, either with your email "
            "or your full name and zip code?",
            "I couldn't match that to anyone in our system. Could you check it over and resend?",
            "Those details don't seem to match an account. Maybe try a different email "
            "address, if you have more than one?",
            "I'm not getting a match with that, unfortunately. Can you try once more?",
            "That doesn't match anything I can see. Could you send your email, or your name and "
            "zip code, one more time?",
        ),
        closers=("Thanks for bearing with me.", "We'll get there!"),
        off_catalog=(
            OffCatalog("empathy", "I know this is a bit tedious, sorry!"),
            OffCatalog("tip", "Quite often it's an older email address that's on the account."),
        ),
    ),
    "auth_success": ActPhrases(
        states=("first_name",),
        openers=("Great!", "Okay!", "Thanks for that."),
        cores=(
            "Perfect, {first_name}, you're verified.",
            "All good, {first_name}! I've got your account open.",
            "Got you, {first_name}. Your account's pulled up on my side.",
            "That matches, {first_name}, and I can see your account now.",
            "You're all set, {first_name}, I've found you.",
            "That worked, {first_name}. Your account is up on my screen.",
            "Everything checks out. I've got your account up now.",
        ),
        closers=("Let's take a look.", "Now, let's get this sorted."),
        off_catalog=(
            OffCatalog("empathy", "Thanks for your patience with the security check."),
            OffCatalog("apology", "Sorry that took a moment."),
        ),
    ),
    "auth_policy": ActPhrases(
        states=(),
        openers=("Good question.", "I hear you.", "Totally fair to ask."),
        cores=(
            "I'll need to verify your account before I can share any order details. It's to "
            "keep your information safe.",
            "Before I can get into your orders, I have to confirm the account is yours, just "
            "for security.",
            "For security reasons I can't discuss order or refund details until I've verified "
            "who you are.",
            "It's a quick security step: I have to confirm your identity before looking at "
            "anything on the account.",
            "We always verify the account holder first so nobody else can see or change your "
            "orders.",
            "I'm not able to look at order information until you're verified. It protects your "
            "account.",
            "Verifying first keeps your orders private. Once that's done I can look into "
            "anything you need.",
        ),
        closers=("It'll just take a second.", "Thanks for understanding!"),
        off_catalog=(
            OffCatalog(
                "two_things",
                "I do need to verify you first to keep your account safe. Could you send your "
                "email, or full name and zip code, and the order number if you have it?",
            ),
            OffCatalog("empathy", "I know it's an extra step, sorry about that."),
        ),
    ),
    "request_order": ActPhrases(
        states=(),
        openers=(
            "Thanks!",
            "Okay!",
            "Got it.",
            "Perfect.",
            "Alright, I've got your account open.",
            "Thanks, I can see your account now.",
            "Great, thanks for that.",
            "Lovely, thank you.",
        ),
        cores=(
            "Which order are we looking at? The order number is easiest, but describing the "
            "item is fine too.",
            "What's the order number? If you don't have it, just tell me what you bought.",
            "Can you let me know which order this is for? An order number or a description of "
            "the item both work.",
            "Do you know the order number? Otherwise, tell me a bit about what you ordered and "
            "I'll find it.",
            "Which purchase is this about? Send me the order number, or what was in the order.",
            "Now, which order do you need help with? The order ID or the item's name will do.",
            "What order is this regarding? The number or a short description is fine.",
            "Could you point me to the order? The order number or the name of the item is all "
            "I need.",
        ),
        closers=(
            "Whatever's easiest for you.",
            "I'll take it from there.",
            "Thanks!",
            "No rush.",
        ),
        off_catalog=(
            OffCatalog(
                "two_things",
                "Which order is this about? If you can, send the order number and roughly when "
                "you placed it, and I'll find it right away.",
            ),
            OffCatalog("tip", "Order numbers start with #W and are in your confirmation email."),
            OffCatalog("apology", "Sorry for the back and forth!"),
        ),
    ),
    "order_not_found": ActPhrases(
        states=("order_ref",),
        openers=("Thanks.", "Let me look...", "Okay, I checked."),
        cores=(
            'Hmm, I don\'t see anything matching "{order_ref}" on your account. Could you check '
            "the number, or tell me what the order was?",
            "I'm not finding {order_ref} among your orders. Can you double-check it, or describe "
            "the item instead?",
            "\"{order_ref}\" isn't showing up on your account. Maybe there's a typo? A "
            "description of what you ordered works too.",
            'No order matching "{order_ref}" comes up for you. Do you have another number, or '
            "can you tell me what was in it?",
            "I searched your orders for {order_ref} but nothing came up. Could you send it "
            "again, or let me know what you bought?",
            "That one ({order_ref}) doesn't match any of your orders, I'm afraid. Could you try "
            "the number again or describe the order?",
            "I couldn't find that order on your account. Could you double-check the number or "
            "tell me what you ordered?",
        ),
        closers=ASK_CLOSERS[:2],
        off_catalog=(
            OffCatalog("tip", "Order numbers start with #W followed by seven digits."),
            OffCatalog("empathy", "I know it's annoying when a number doesn't match."),
        ),
    ),
    "disambiguate_order": ActPhrases(
        states=("order_options",),
        openers=("Let me check...", "Okay, one moment.", "Thanks!"),
        cores=(
            "I see a few orders that could be it: {order_options}. Which one is it?",
            "There are a couple of possible matches on your account: {order_options}. Which "
            "one do you mean?",
            "A few orders fit that description: {order_options}. Can you tell me which?",
            "I've got more than one match here: {order_options}. Which one should I look at?",
            "That could be one of these: {order_options}. Let me know which one you mean.",
            "Looks like there are several candidates: {order_options}. Which order is the "
            "right one?",
            "I'm seeing more than one order that could match. Could you send me the order "
            "number so I pick the right one?",
        ),
        closers=("The order number is enough.", "You can just send the number."),
        off_catalog=(
            OffCatalog("tip", "The order number is the part that starts with #W."),
            OffCatalog("apology", "Sorry, I just want to be sure I look at the right one."),
        ),
    ),
    "confirm_order": ActPhrases(
        states=("item_summary", "order_id"),
        openers=("Okay!", "Let me check...", "Thanks."),
        cores=(
            "Just so I'm looking at the right one: order {order_id}, with {item_summary}?",
            "Is this about order {order_id}, the one with {item_summary}?",
            "Can you confirm it's order {order_id} ({item_summary}) you mean?",
            "I've found order {order_id} for {item_summary}. Is that the one?",
            "Order {order_id}, {item_summary}: is that right?",
            "Is {order_id} with {item_summary} the order you're asking about?",
            "I think I've found the order. Can you confirm it's the right one?",
        ),
        closers=("A quick yes or no is fine.",),
        off_catalog=(
            OffCatalog(
                "two_things",
                "Is it order {order_id} with {item_summary}? And is that the only order you "
                "need help with today?",
            ),
            OffCatalog("summary", "I've got an order here from {order_date} for {order_total}."),
            OffCatalog("apology", "Sorry, I just want to make sure I have the right order."),
        ),
    ),
    "no_eligible_orders": ActPhrases(
        states=(),
        openers=("Thanks for waiting!", "Thanks for bearing with me.", "One sec..."),
        cores=(
            "I've had a look, and there's no order on your account this would apply to.",
            "I checked your account and there aren't any orders this could be used for right now.",
            "There's nothing on your account at the moment that this applies to, I'm afraid.",
            "I went through your orders, but none of them fit this request.",
            "I can't see any order on your account that would qualify for this.",
            "None of the orders on your account match what you're asking about, from what I "
            "can see.",
        ),
        closers=("Sorry about that.",),
        off_catalog=(
            OffCatalog(
                "tip",
                "If it was placed under another email address, it would be on a different account.",
            ),
            OffCatalog("empathy", "I know that's not the answer you were after."),
        ),
    ),
    "clarify": ActPhrases(
        states=(),
        openers=("Thanks for your message.", "Okay."),
        cores=(
            "Sorry, I'm not quite sure what you mean. Could you say a bit more?",
            "I didn't quite get that. Could you put it another way?",
            "Could you explain that a little differently? I want to make sure I understand.",
            "I'm not following, sorry! What would you like me to help with?",
            "Hmm, I'm not sure I understood. Can you tell me a bit more about what you need?",
            "Can you clarify that for me? I don't want to get it wrong.",
            "I'm a little lost, sorry. Could you rephrase?",
        ),
        closers=(
            "For example, are you checking on a refund or cancelling an order?",
            "Thanks!",
        ),
        off_catalog=(
            OffCatalog(
                "two_things",
                "Sorry, I didn't quite catch that. Is this about a refund or a cancellation, and "
                "do you have an order number?",
            ),
            OffCatalog("empathy", "I know chat can be clunky, sorry about that."),
        ),
    ),
    "empathy": ActPhrases(
        states=(),
        openers=("Oh no.", "Oh, I see."),
        cores=(
            "I'm really sorry you've had to deal with this.",
            "That sounds frustrating, and I'm sorry.",
            "I completely understand, and I'm sorry for the hassle.",
            "I hear you. That's not the experience we want you to have.",
            "Sorry this hasn't gone smoothly for you.",
            "I get it, that's annoying. I'm sorry.",
            "I'm sorry about all this, I know it's a pain.",
        ),
        closers=("Let's see what I can do.", "I'll do what I can to help."),
        off_catalog=(
            OffCatalog("sign_off", "Thanks for sticking with us while we sort it out."),
            OffCatalog("introduction", "I'm Alex, and I'll stay with you until this is sorted."),
        ),
    ),
    "handoff": ActPhrases(
        states=(),
        openers=("Okay.", "Thanks for your patience so far."),
        cores=(
            "I'm going to bring in one of my colleagues who can help with this.",
            "Let me pass you over to a teammate who can take this further.",
            "I'll get a colleague to pick this up from here.",
            "This needs someone from our support team, so I'm transferring you now.",
            "I'm handing this over to a colleague who can dig into it properly.",
            "One of my teammates will take over from here.",
            "Let me connect you with someone on the team who can help.",
        ),
        closers=TRANSFER_CLOSERS,
        off_catalog=HANDOFF_SYMPATHY,
    ),
    "handoff_requested": ActPhrases(
        states=(),
        cores=(
            "Sure thing, I'll get you over to someone on the team.",
            "Absolutely, let me transfer you to a person now.",
            "Of course. I'm connecting you to one of our agents.",
            "No problem, I'll pass you to a colleague right away.",
            "Okay, I'm getting a member of the team for you.",
            "Understood, I'll bring in a human agent for you.",
            "You got it, transferring you to a teammate now.",
        ),
        closers=TRANSFER_CLOSERS,
        off_catalog=(
            OffCatalog("apology", "Sorry I couldn't be more help."),
            OffCatalog("empathy", "I totally understand wanting to talk to a person."),
        ),
    ),
    "out_of_scope": ActPhrases(
        states=(),
        openers=("Thanks for asking.", "Ah, okay."),
        cores=(
            "That's not something I can handle here, but one of my colleagues can. Let me "
            "transfer you.",
            "I only cover refunds and cancellations in this chat, so I'll pass you to someone "
            "who can help with that.",
            "That one's outside my area, so I'm connecting you with a colleague who handles it.",
            "I'm not able to help with that myself, but I'll get you to the right person.",
            "A colleague of mine is better placed to help with that, so I'm transferring you now.",
            "That needs a different team. I'm passing you over to them.",
        ),
        closers=TRANSFER_CLOSERS,
        off_catalog=(
            OffCatalog("apology", "Sorry I can't do that one myself."),
            OffCatalog("empathy", "I know being passed around isn't ideal."),
        ),
    ),
    "anything_else": ActPhrases(
        states=(),
        openers=("Okay!", "Alright."),
        cores=(
            "Is there anything else you need?",
            "Can I help you with anything else today?",
            "Anything more I can look into for you?",
            "Is there something else I can help with?",
            "What else can I do for you?",
            "Do you need help with anything else?",
            "Is there anything else on your mind today?",
        ),
        closers=("I'm happy to help.",),
        off_catalog=(
            OffCatalog("two_things", "Anything else I can help with today? Another order, maybe?"),
            OffCatalog("sign_off", "If not, have a great rest of your day!"),
        ),
    ),
    "closing": ActPhrases(
        states=(),
        openers=("You're welcome!", "Great."),
        cores=(
            "Thanks for chatting with me today. Have a good one!",
            "It was a pleasure helping you. Take care!",
            "Thanks for getting in touch. Have a lovely day!",
            "Thanks so much for reaching out. Bye for now!",
            "Happy to help. Enjoy the rest of your day!",
            "Thanks for contacting support, and take care!",
            "All the best, and thanks for chatting!",
        ),
        closers=("Goodbye!",),
        off_catalog=(
            OffCatalog("sign_off", "Best wishes, Alex from the support team"),
            OffCatalog("sign_off", "It was really nice talking with you. Bye!"),
        ),
    ),
    "message_too_long": ActPhrases(
        states=(),
        openers=("Thanks for all the detail!", "Oops."),
        cores=(
            "That message is a bit too long for me. Could you shorten it?",
            "Could you send a shorter version? That one's over the length I can take.",
            "Sorry, that's too much text for one message. Can you trim it down to the key points?",
            "That came through too long for me to handle. Could you sum it up briefly?",
            "Your message is longer than I can process. A shorter one with just the main "
            "details would be great.",
            "I can't take messages quite that long. Could you cut it down a bit?",
        ),
        closers=INPUT_CLOSERS,
        off_catalog=(
            OffCatalog("tip", "The order number and what you need are usually all I need."),
            OffCatalog("apology", "Sorry about this!"),
        ),
    ),
    "empty_message": ActPhrases(
        states=(),
        openers=("Oops.",),
        cores=(
            "Looks like that message was blank. Could you send it again?",
            "I didn't get any text there. What did you want to say?",
            "Your last message came through empty on my side. Could you resend it?",
            "Hmm, that one was empty. What can I do for you?",
            "Nothing came through in that message. Mind trying again?",
            "I received an empty message. Could you type it out again?",
        ),
        closers=INPUT_CLOSERS,
        off_catalog=(
            OffCatalog("apology", "Sorry, it might be a glitch on our side."),
            OffCatalog("tip", "Just type your question in the box and hit send."),
        ),
    ),
    "unsupported_input": ActPhrases(
        states=(),
        openers=("Oops.", "Hmm."),
        cores=(
            "I can't open that kind of message. Could you type it out instead?",
            "Sorry, I couldn't make that one out. Can you send it as plain text?",
            "That message didn't come through in a way I can read. Could you write it in words?",
            "I'm not able to read that. Could you tell me what you need in a sentence?",
            "That one's unreadable on my end. Mind typing your question out?",
            "I wasn't able to read your last message. Could you write it again in plain words?",
        ),
        closers=INPUT_CLOSERS,
        off_catalog=(
            OffCatalog("apology", "Sorry, that's a limitation on my side."),
            OffCatalog("tip", "Plain text works best in this chat."),
        ),
    ),
}

_REFUND: dict[str, ActPhrases] = {
    "refund_not_started": ActPhrases(
        states=("order_id",),
        openers=LOOKUP_OPENERS,
        cores=(
            "Your return for order {order_id} hasn't arrived at our end yet. As soon as it does, "
            "the refund will get started.",
            "We're still waiting to receive the return on order {order_id}. The refund kicks "
            "off once it's checked in.",
            "The refund for order {order_id} hasn't started yet because the returned item "
            "hasn't reached us. It'll begin once it arrives.",
            "Order {order_id}: the return hasn't been received yet, so there's no refund in "
            "motion just yet. It'll start as soon as we get it.",
            "Nothing's been refunded on order {order_id} yet, since the returned item hasn't "
            "made it back to us. The refund starts when it does.",
            "The {item_summary} from order {order_id} hasn't made it back to us yet, so the "
            "refund hasn't started. It'll begin as soon as we receive it.",
            "We haven't received your return yet, so the refund hasn't started. It'll begin "
            "once the item arrives.",
        ),
        closers=INFO_CLOSERS[:2] + ("Thanks for your patience.",),
        off_catalog=(
            OffCatalog("tip", "Once we receive it, the refund goes back to {refund_method}."),
            OffCatalog("tip", "If you've already sent it, it may just still be in transit."),
            OffCatalog("empathy", "I know waiting on a refund is no fun."),
            *WAIT_APOLOGIES,
        ),
    ),
    "refund_in_progress": ActPhrases(
        states=("expected_date", "order_id", "refund_amount", "refund_method"),
        openers=LOOKUP_OPENERS + ("Good news!",),
        cores=(
            "Your refund of {refund_amount} for order {order_id} is being processed and should "
            "be back on {refund_method} by {expected_date}.",
            "The refund on order {order_id} is underway: {refund_amount} is headed back to "
            "{refund_method}, and you should have it by {expected_date}.",
            "Order {order_id} is being refunded right now. Expect {refund_amount} on "
            "{refund_method} by {expected_date}.",
            "I can see a refund of {refund_amount} in progress for order {order_id}. It's going "
            "to {refund_method} and should show up by {expected_date}.",
            "{refund_amount} is on its way back to {refund_method} for order {order_id}, and "
            "it's expected by {expected_date}.",
            "Your refund for {order_id} is in progress. You'll get {refund_amount} back on "
            "{refund_method}, expected by {expected_date}.",
            "The {refund_amount} refund for order {order_id} has started and is expected to "
            "reach {refund_method} by {expected_date}.",
            "For order {order_id}, the refund is in motion: {refund_amount} to {refund_method}, "
            "due by {expected_date}.",
            "Your refund of {refund_amount} for order {order_id} is in progress and heading "
            "back to {refund_method}.",
            "The refund for order {order_id} is in progress.",
            "Your refund is in progress and on its way back to you.",
        ),
        closers=INFO_CLOSERS + ("Thanks for your patience!",),
        off_catalog=(
            OffCatalog(
                "tip",
                "Card and PayPal refunds can take 5–7 business days to show up after "
                "they're issued.",
            ),
            OffCatalog("tip", "Refunds always go back to the payment method used for the order."),
            OffCatalog("empathy", "I know it's a pain waiting for money to come back."),
            OffCatalog("summary", "That's the order with {item_summary} from {order_date}."),
            *WAIT_APOLOGIES,
            *GENERIC_SIGN_OFFS,
        ),
    ),
    "refund_completed": ActPhrases(
        states=("order_id", "refund_amount", "refund_date", "refund_method"),
        openers=LOOKUP_OPENERS + ("Good news!",),
        cores=(
            "The refund for order {order_id} is all done: {refund_amount} went back to "
            "{refund_method} on {refund_date}.",
            "Your refund is complete! We sent {refund_amount} to {refund_method} on "
            "{refund_date} for order {order_id}.",
            "Order {order_id} was refunded on {refund_date}. The {refund_amount} was credited "
            "to {refund_method}.",
            "I can see the refund for {order_id} completed on {refund_date}: {refund_amount} to "
            "{refund_method}.",
            "{refund_amount} was refunded to {refund_method} on {refund_date} for order "
            "{order_id}, so that one's complete.",
            "Your refund on order {order_id} has gone through. {refund_amount} was returned to "
            "{refund_method} on {refund_date}.",
            "That refund is finished: order {order_id}, {refund_amount}, paid back to "
            "{refund_method} on {refund_date}.",
            "The refund for order {order_id} is complete, and {refund_amount} went back to "
            "{refund_method}.",
            "Your refund has been completed.",
        ),
        closers=INFO_CLOSERS,
        off_catalog=(
            OffCatalog(
                "tip",
                "If you don't see it yet, it's worth checking with your bank, since it's "
                "been sent from our side.",
            ),
            OffCatalog("summary", "That's the order with {item_summary} from {order_date}."),
            *WAIT_APOLOGIES,
            *GENERIC_SIGN_OFFS,
        ),
    ),
    "refund_failed": ActPhrases(
        states=("order_id",),
        openers=LOOKUP_OPENERS[:4],
        cores=(
            "Something's gone wrong with the refund on order {order_id}, so I'm getting a "
            "specialist to look into it.",
            "The refund for order {order_id} has hit a problem. I'm passing this to a "
            "specialist who can fix it.",
            "I can see the refund on order {order_id} didn't go through as it should. Let me "
            "hand you to a specialist to sort it out.",
            "There's an issue with the refund for {order_id}. A specialist on our team needs to "
            "take this one, so I'm transferring you.",
            "Unfortunately the refund on order {order_id} ran into trouble. I'm bringing in a "
            "specialist to investigate.",
            "The refund on {order_id} has run into an error, so I'm handing it to a specialist.",
            "There's a problem with this refund, so I'm passing it to a specialist who can look "
            "into it.",
        ),
        closers=TRANSFER_CLOSERS,
        off_catalog=HANDOFF_SYMPATHY,
    ),
    "refund_none": ActPhrases(
        states=("order_id",),
        openers=LOOKUP_OPENERS,
        cores=(
            "There isn't a return or refund on order {order_id} right now.",
            "I don't see any return or refund recorded for order {order_id}.",
            "Order {order_id} has no return or refund on file.",
            "Nothing's been set up for a return or refund on order {order_id} so far.",
            "I checked order {order_id}, and there's no refund or return associated with it.",
            "For order {order_id}, I can't find any return or refund.",
            "I don't see a return or refund on that order.",
        ),
        closers=INFO_CLOSERS[2:],
        off_catalog=(
            OffCatalog("tip", "For returns, the refund starts once we've received the item."),
            OffCatalog("empathy", "I know that's confusing if you were expecting one."),
            *WAIT_APOLOGIES,
        ),
    ),
    "refund_policy": ActPhrases(
        states=(),
        openers=("Good question!", "Sure."),
        cores=(
            "Gift card refunds are instant. If you paid by card or PayPal, allow 5–7 business "
            "days.",
            "It depends on how you paid: to a gift card it's immediate, while cards and PayPal "
            "take 5–7 business days.",
            "Refunds go back to the original payment method. Gift cards get it right away; "
            "cards and PayPal take 5–7 business days.",
            "If the refund's going to a gift card you'll see it straight away. Card and PayPal "
            "refunds take 5–7 business days.",
            "Timing-wise: gift card refunds land immediately, and card or PayPal refunds show "
            "up within 5–7 business days.",
            "A refund to a gift card is immediate. For a credit card or PayPal, it takes 5–7 "
            "business days to appear.",
        ),
        closers=INFO_CLOSERS[:2],
        off_catalog=(
            OffCatalog("tip", "Business days don't include weekends or holidays."),
            OffCatalog("empathy", "I know it's frustrating to wait for money to come back."),
        ),
    ),
}

_CANCEL: dict[str, ActPhrases] = {
    "request_cancel_reason": ActPhrases(
        states=("order_id",),
        openers=CANCEL_OPENERS,
        cores=(
            "I can cancel order {order_id} for you. Could you tell me why you'd like to cancel?",
            "Order {order_id} can still be cancelled. What's the reason for the cancellation?",
            "No problem, I can help cancel {order_id}. Mind telling me why you're cancelling?",
            "Order {order_id} hasn't shipped yet, so we can cancel it. Can I ask what the "
            "reason is?",
            "Before I cancel order {order_id}, may I ask what made you decide to cancel?",
            "Happy to cancel order {order_id}. What's the reason, if you don't mind me asking?",
            "I can cancel order {order_id} ({item_summary}). What's made you want to cancel it?",
            "I can help cancel that order. Could you tell me the reason for cancelling?",
        ),
        closers=("Any reason is fine.", "It just helps us improve."),
        off_catalog=(
            OffCatalog(
                "summary",
                "Just so we're on the same page, that's order {order_id} with {item_summary}, "
                "placed on {order_date} for {order_total}.",
            ),
            OffCatalog(
                "two_things",
                "I can cancel order {order_id}. Could you tell me why you'd like to cancel, and "
                "confirm it's the one with {item_summary}?",
            ),
            OffCatalog("empathy", "Sorry it didn't work out with this one."),
            *WAIT_APOLOGIES,
        ),
    ),
    "request_cancel_confirmation": ActPhrases(
        states=("item_summary", "order_id", "order_total", "refund_method"),
        openers=(
            "Thanks for letting me know.",
            "Got it, thanks.",
            "Understood.",
            "Thanks, {first_name}.",
            "Okay, noted.",
        ),
        cores=(
            "So, to confirm: I'll cancel order {order_id} ({item_summary}) and refund "
            "{order_total} to {refund_method}. Should I go ahead?",
            "Just checking before I do it: cancelling order {order_id} for {item_summary} means "
            "{order_total} goes back to {refund_method}. Do you want me to proceed?",
            "Here's the plan: order {order_id} with {item_summary} gets cancelled, and you'll "
            "get {order_total} back on {refund_method}. Is that okay?",
            "I'm ready to cancel order {order_id} ({item_summary}). The {order_total} will be "
            "refunded to {refund_method}. Can you confirm you'd like me to go ahead?",
            "So that's order {order_id}, {item_summary}, for {order_total}, which would be "
            "refunded to {refund_method}. Shall I cancel it?",
            "Cancelling {order_id} ({item_summary}) will refund {order_total} back to "
            "{refund_method}. Want me to go ahead with that?",
            "Can you confirm you want order {order_id} cancelled? That's the {item_summary}, "
            "and {order_total} would go back to {refund_method}.",
            "Just to confirm, you want me to cancel order {order_id} and refund {order_total} "
            "to {refund_method}?",
            "Just to double-check, would you like me to go ahead and cancel this order?",
        ),
        closers=(
            "Just reply yes or no.",
            "A quick yes is all I need.",
            "Once you confirm, I'll take care of it.",
        ),
        off_catalog=(
            OffCatalog("tip", "You'll get an email confirming the cancellation once it's done."),
            OffCatalog("empathy", "Totally understandable."),
            OffCatalog("empathy", "Sorry to hear it didn't work out."),
        ),
    ),
    "cancel_done": ActPhrases(
        states=("order_id", "refund_amount", "refund_method", "refund_timing"),
        openers=(
            "Thanks for confirming!",
            "Perfect.",
            "Okay, cancelling that now...",
            "Thanks, {first_name}!",
            "Great.",
            "Okay, give me one second... there we go.",
            "Thanks for the go-ahead.",
        ),
        cores=(
            "All done! Order {order_id} has been cancelled, and {refund_amount} is going back to "
            "{refund_method} {refund_timing}.",
            "I've cancelled order {order_id} for you. You'll get {refund_amount} back on "
            "{refund_method} {refund_timing}.",
            "Order {order_id} is now cancelled. The refund of {refund_amount} will be returned "
            "to {refund_method} {refund_timing}.",
            "That's done: {order_id} is cancelled and {refund_amount} will be refunded to "
            "{refund_method} {refund_timing}.",
            "Your order {order_id} is cancelled. Expect {refund_amount} back on {refund_method} "
            "{refund_timing}.",
            "Cancellation complete for order {order_id}. {refund_amount} is being refunded to "
            "{refund_method}, and it should show up {refund_timing}.",
            "I've cancelled order {order_id} ({item_summary}). You'll see {refund_amount} back "
            "on {refund_method} {refund_timing}.",
            "Order {order_id} has been cancelled, and the refund will go back to "
            "{refund_method} {refund_timing}.",
            "Your order has been cancelled, and the refund will go back to your original "
            "payment method.",
        ),
        closers=(
            "Hope that helps!",
            "Thanks for letting us know in time.",
            "Nothing else you need to do on your end.",
            "Thanks for your patience!",
        ),
        off_catalog=(
            OffCatalog("tip", "You'll get an email confirmation of the cancellation shortly."),
            OffCatalog("tip", "Refunds always go back to the payment method used for the order."),
            OffCatalog("empathy", "Sorry the order didn't work out."),
            *GENERIC_SIGN_OFFS,
        ),
    ),
    "cancel_kept": ActPhrases(
        states=("order_id",),
        openers=("No problem!", "Sure.", "Okay!"),
        cores=(
            "Order {order_id} is staying put, I'll leave it exactly as it is.",
            "Order {order_id} stays active and nothing's been cancelled.",
            "Got it, I haven't cancelled anything. Order {order_id} is still going ahead.",
            "I'll keep order {order_id} just as it is.",
            "Order {order_id} won't be cancelled, then.",
            "Understood. I've made no changes to order {order_id}.",
            "I'll leave the order as it is, nothing's been cancelled.",
        ),
        closers=("Glad we checked first.",),
        off_catalog=(
            OffCatalog(
                "tip",
                "If you change your mind, we can still cancel it as long as it hasn't shipped.",
            ),
            *GENERIC_SIGN_OFFS,
        ),
    ),
    "cannot_cancel_shipped": ActPhrases(
        states=("order_id", "shipped_date"),
        openers=CANCEL_OPENERS,
        cores=(
            "Order {order_id} shipped on {shipped_date}, so unfortunately it's too late to "
            "cancel it. Once it's delivered, you're welcome to return it.",
            "Since {order_id} went out on {shipped_date}, cancelling isn't possible now. After "
            "it arrives, you can send it back as a return.",
            "I'm afraid order {order_id} is already on its way (it shipped on {shipped_date}), "
            "so I can't cancel it. You can return it once it's delivered.",
            "Order {order_id} has already shipped, as of {shipped_date}, so cancellation is off "
            "the table. A return after delivery is the way to go.",
            "Unfortunately, order {order_id} shipped on {shipped_date} and can't be cancelled "
            "anymore. When it shows up, you can return it.",
            "It's too late to cancel order {order_id} because it left us on {shipped_date}. "
            "You'll be able to return it after it's delivered, though.",
            "Order {order_id} has already shipped, so it can't be cancelled, but you can return "
            "it once it arrives.",
            "That order has already shipped, so it can't be cancelled now. You can return it "
            "once it arrives.",
        ),
        closers=("Sorry I can't do more on that one.",),
        off_catalog=(
            OffCatalog("empathy", "I know that's not what you were hoping to hear."),
            OffCatalog(
                "tip",
                "Returns are refunded to the original payment method once we receive the item.",
            ),
        ),
    ),
    "cannot_cancel_shipped_member": ActPhrases(
        states=("membership", "order_id", "shipped_date"),
        openers=CANCEL_OPENERS,
        cores=(
            "Order {order_id} shipped on {shipped_date}, so I can't cancel it anymore. Since "
            "you're a {membership} member, you'll get a free prepaid return label once it "
            "arrives.",
            "Unfortunately {order_id} went out on {shipped_date} and can't be cancelled. The "
            "good news is that as a {membership} member, you get a free prepaid return label "
            "when it's delivered.",
            "It's too late to cancel order {order_id}, since it shipped on {shipped_date}. Your "
            "{membership} membership does include a free prepaid return label, which you'll get "
            "once it arrives.",
            "Order {order_id} is already on its way (shipped {shipped_date}), so cancelling "
            "isn't an option. As a {membership} member you'll get a prepaid return label for "
            "free once it's delivered.",
            "I'm afraid order {order_id} shipped on {shipped_date}, so it can't be cancelled. "
            "Being a {membership} member, you'll get a free prepaid return label after delivery.",
            "Since order {order_id} shipped on {shipped_date}, I can't cancel it, but once it "
            "arrives you'll get a free prepaid return label thanks to your {membership} "
            "membership.",
            "Order {order_id} shipped on {shipped_date}, so it can't be cancelled. You'll get a "
            "free prepaid return label once it arrives.",
            "That order has already shipped, so it can't be cancelled, but as a member you'll "
            "get a free prepaid return label once it arrives.",
        ),
        closers=("Sorry I can't cancel it outright.",),
        off_catalog=(
            OffCatalog("empathy", "I know that's not what you were hoping to hear."),
            OffCatalog("sign_off", "Thanks for being a {membership} member!"),
        ),
    ),
    "cannot_cancel_delivered": ActPhrases(
        states=("delivered_date", "order_id"),
        openers=CANCEL_OPENERS,
        cores=(
            "Order {order_id} was delivered on {delivered_date}, so it can't be cancelled at "
            "this point, but you can return it.",
            "Since {order_id} arrived on {delivered_date}, cancelling isn't possible anymore. "
            "You can send it back as a return instead.",
            "I can't cancel order {order_id} because it was already delivered on "
            "{delivered_date}. A return would be the way to go.",
            "That one's already been delivered (order {order_id}, on {delivered_date}), so it's "
            "past the point of cancelling. You can still return it, though.",
            "Order {order_id} reached you on {delivered_date}, which means it can't be "
            "cancelled, but a return is an option.",
            "Unfortunately order {order_id} was delivered on {delivered_date}, so cancellation "
            "isn't available. You're welcome to return it instead.",
            "That order has already been delivered, so it can't be cancelled, but you can "
            "return it.",
        ),
        closers=("Sorry I can't cancel it for you.",),
        off_catalog=(
            OffCatalog(
                "tip",
                "Once the return reaches us, the refund goes back to the original payment method.",
            ),
            OffCatalog("empathy", "I know that's a bit of a hassle, sorry."),
        ),
    ),
    "already_cancelled": ActPhrases(
        states=("cancelled_date", "order_id"),
        openers=CANCEL_OPENERS,
        cores=(
            "Order {order_id} was already cancelled on {cancelled_date}, so you're all set there.",
            "Order {order_id} is already cancelled. That happened on {cancelled_date}.",
            "No action needed: order {order_id} was cancelled on {cancelled_date}.",
            "I can see order {order_id} has been cancelled already, on {cancelled_date}, so "
            "there's nothing else to do.",
            "It looks like {order_id} was cancelled on {cancelled_date}, so nothing more is "
            "needed.",
            "Order {order_id} is already cancelled (since {cancelled_date}), so there's nothing "
            "more I need to do.",
            "That order is already cancelled, so there's nothing more to do.",
        ),
        closers=("You're all good.",),
        off_catalog=(
            OffCatalog(
                "tip", "Refunds for cancelled orders go back to the original payment method."
            ),
            *GENERIC_SIGN_OFFS,
        ),
    ),
    "cancel_policy": ActPhrases(
        states=(),
        openers=("Good question!", "Sure."),
        cores=(
            "We can cancel an order any time before it ships. After that, you'd need to return "
            "it instead.",
            "Orders can be cancelled until they ship, and the refund goes back to however you "
            "paid.",
            "As long as an order hasn't shipped, I can cancel it for you, with the refund going "
            "to the original payment method.",
            "Cancellations are possible right up until an order ships. The money goes back to "
            "the payment method you used.",
            "Once an order ships it can't be cancelled, but before that it's no problem, and "
            "you'd be refunded to your original payment method.",
            "If it hasn't shipped yet, we can cancel it and refund the original payment method. "
            "Shipped orders can be returned once they arrive.",
        ),
        closers=INFO_CLOSERS[:2],
        off_catalog=(
            OffCatalog(
                "tip",
                "Gift card refunds are instant, and card or PayPal refunds take 5–7 business days.",
            ),
            OffCatalog("empathy", "I know policies can be a bit of a maze."),
        ),
    ),
}

PHRASES: Mapping[str, ActPhrases] = MappingProxyType(_COMMON | _REFUND | _CANCEL)
"""The rep's phrasings for every catalog act."""
