"""The simulated customers' own phrase bank, written for the simulator (plain data).

None of it comes from the agent's NLU training phrases (``dialogue/nlu_bank.py``): the simulator
is an independent measuring instrument, so its customers must not speak the classifier's
training set back to it. ``tests/test_phrases.py`` checks that no phrase here, once filled in and
normalised, equals a training phrase (bare "yes" and "no" excepted).

Placeholders, filled by the caller with ``str.format`` (or ``str.replace``):

* ``{order_ref}``: a bare order id such as ``#W1234567`` (the phrase supplies the word "order"
  where it needs one).
* ``{order_id}``: the same, in answers to "which order?".
* ``{description}``: a description that carries its own article, e.g. ``the blue water bottle``
  (so the phrases never put "the" in front of it).
* ``{email}``, ``{first_name}``, ``{last_name}``, ``{zip_code}``: the customer's details.

Register varies on purpose: terse, chatty, polite, rude and impatient customers all appear.
"""

from __future__ import annotations

OPENERS: dict[str, tuple[str, ...]] = {
    "refund_status": (
        "refund??",
        "status of refund pls",
        "money back yet?",
        "where's my money",
        "checking on a refund",
        "I'm still waiting on a refund",
        "Has my refund been sent yet or what",
        "when am I getting my money back",
        "Hello, I'd like an update on a refund please.",
        "I returned an item and nothing's come back to my card",
        "It's been ages and no refund. What's going on?",
        "Hi! I sent something back a couple of weeks ago and I still haven't seen my refund. "
        "Can you check?",
        "hi there, could you tell me whether my refund has gone through? thanks so much",
        "My refund still hasn't shown up",
        "you guys owe me money for a return",
        "did you process my return yet",
        "what's happening with my refund",
        "Hi, quick question about a refund I'm expecting",
        "Where is the refund you promised me?",
        "Hello? I want to know about my refund.",
        "I need to know when my refund will land",
        "so my return got to you like a week ago, where's the refund",
        "Good morning, I'm following up on a refund for something I returned.",
        "seriously, where is my refund",
        "I'm owed a refund and haven't got it",
        "can you look into a refund for me",
        "This is the third time I'm asking: where is my refund?",
        "hey so I sent a package back and I'm wondering if the refund is on its way",
        "any news on my refund",
        "Was my refund approved?",
    ),
    "cancel_order": (
        "cancellation",
        "order cancel",
        "cancel. now.",
        "just cancel my stuff",
        "I want to cancel something",
        "need to cancel an order asap",
        "I need an order cancelled",
        "Hi, I placed an order by accident and need to cancel it",
        "How can I get an order cancelled before it ships?",
        "hey, I changed my mind on an order, can you cancel it?",
        "I'd like to cancel one of my orders please.",
        "please stop my order from going out",
        "Hello, is it possible to cancel an order I made yesterday?",
        "I don't want what I ordered anymore",
        "I want out of an order",
        "i need to kill an order",
        "Can you help me cancel a purchase?",
        "Good afternoon. I'd like to cancel an order if it hasn't shipped yet.",
        "ugh, I need to cancel something I bought",
        "I'd like to withdraw an order",
        "Please cancel the order I just put in.",
        "Can I undo an order?",
        "I want my order cancelled, don't ship it",
        "hi, can an order be cancelled once it's placed?",
        "yeah hi, I bought something last night and I regret it, can we cancel",
        "Cancel my order, I'm not paying for it",
        "wanna cancel an order",
    ),
}

OPENERS_WITH_ORDER: dict[str, tuple[str, ...]] = {
    "refund_status": (
        "where's the refund for {order_ref}?",
        "I returned {order_ref} and never got my money",
        "refund status on {order_ref}",
        "Hi, could you look up the refund for order {order_ref}?",
        "{order_ref} refund?",
        "has the refund for {order_ref} gone through",
        "I sent back {order_ref} two weeks ago. Where's my money?",
        "still no refund for {order_ref}, what's the holdup",
        "Hello, I'm waiting on a refund for order {order_ref}, any news?",
        "when will {order_ref} be refunded",
        "Order {order_ref}: I returned it, so where is my refund?",
    ),
    "cancel_order": (
        "I wanna cancel {order_ref}",
        "cancel {order_ref} asap",
        "Hi, I need {order_ref} cancelled please",
        "{order_ref}, cancel it",
        "Can you stop order {order_ref} before it ships?",
        "I'd like to cancel my order, the number is {order_ref}",
        "Hello, could you cancel {order_ref} for me? I don't need it anymore",
        "need order {order_ref} cancelled",
        "order {order_ref}: please cancel",
        "get rid of order {order_ref}",
        "I placed {order_ref} by mistake, can it be cancelled?",
    ),
}

OUT_OF_SCOPE: dict[str, tuple[str, ...]] = {
    "change_address": (
        "I need to update the delivery address on my order",
        "can you send it to my work address instead?",
        "I moved, please change where it ships",
        "wrong address on my order, fix it",
        "Hi, I typed my street wrong when I ordered. Can you correct it?",
        "ship it to my mom's place instead",
    ),
    "dispute_charge": (
        "you charged me twice for the same thing",
        "there's a charge on my card I don't recognise",
        "I want to dispute a payment",
        "why was I billed $89??",
        "I'm filing a chargeback",
        "this charge is wrong, take it off",
    ),
    "change_payment": (
        "can I pay with a different card?",
        "switch the payment to PayPal",
        "I want to use my gift card instead",
        "update the card on my order",
        "my card expired, can I change it on the order?",
        "Hello, I'd like to pay for my order another way.",
    ),
    "product_question": (
        "does the water bottle keep drinks cold?",
        "is this jacket waterproof",
        "what size should I get in the hoodie",
        "do you have the sneakers in green",
        "when will the headphones be back in stock",
        "is the charger compatible with an iPhone?",
    ),
}

AUTH_EMAIL: tuple[str, ...] = (
    "{email}",
    "email's {email}",
    "sure, {email}",
    "it should be {email}",
    "the account is under {email}",
    "I use {email}",
    "try {email}",
    "{email} is the one on file",
    "ok here: {email}",
    "my e-mail address is {email}",
    "email: {email}",
    "you can find me under {email}",
)
AUTH_NAME_ZIP: tuple[str, ...] = (
    "{first_name} {last_name}, {zip_code}",
    "{first_name} {last_name} {zip_code}",
    "I'm {first_name} {last_name} and my zip is {zip_code}",
    "name's {first_name} {last_name}, zip {zip_code}",
    "{first_name} {last_name}. Zip code is {zip_code}.",
    "it's under {first_name} {last_name}, postcode {zip_code}",
    "This is {first_name} {last_name}, I live in {zip_code}",
    "{last_name}, {first_name} / {zip_code}",
)
AUTH_NAME_ONLY: tuple[str, ...] = (
    "{first_name} {last_name}",
    "my name's {first_name} {last_name}",
    "I'm {first_name} {last_name}",
    "it's under {first_name} {last_name}",
    "name: {first_name} {last_name}",
    "this is {first_name} {last_name}",
)
ZIP_ONLY: tuple[str, ...] = (
    "{zip_code}",
    "zip is {zip_code}",
    "it's {zip_code}",
    "postal code {zip_code}",
    "{zip_code}, why?",
    "my zip code's {zip_code}",
    "uh, {zip_code}",
)
ORDER_BY_ID: tuple[str, ...] = (
    "{order_id}",
    "it's {order_id}",
    "order number {order_id}",
    "here you go: {order_id}",
    "the number on the receipt is {order_id}",
    "{order_id} I think",
    "I have it here, {order_id}",
    "order id {order_id}",
    "It's order {order_id}.",
)
ORDER_BY_DESCRIPTION: tuple[str, ...] = (
    "{description}",
    "it's {description}",
    "I mean {description}",
    "the order with {description} in it",
    "the one with {description}",
    "{description}, I think",
    "it was for {description}",
    "the order for {description}",
    "I bought {description}",
    "um, {description}?",
)
ORDER_LAST: tuple[str, ...] = (
    "the last thing I bought",
    "my latest order",
    "the most recent one",
    "whatever I ordered last",
    "the newest order",
    "the one I placed last",
    "my last purchase",
    "the one I just ordered",
    "it's the last order on my account",
    "my most recent purchase",
)
REASONS: dict[str, tuple[str, ...]] = {
    "no_longer_needed": (
        "don't need it now",
        "I don't need it any more",
        "turns out I won't be using it",
        "not needed anymore",
        "I already got one elsewhere",
    ),
    "ordered_by_mistake": (
        "I ordered the wrong thing",
        "it was a mistake",
        "clicked buy by accident",
        "my kid ordered it without asking",
        "oops, I bought it twice",
    ),
    "better_price": (
        "it's cheaper somewhere else",
        "found it for less",
        "another shop has a better deal",
        "I saw it on sale somewhere else",
    ),
    "too_slow": (
        "it's taking forever",
        "shipping is too slow",
        "I needed it by now and it's still not here",
        "the delivery date is way too late",
    ),
    "other": (
        "personal reasons",
        "does it matter? just cancel it",
        "I'd rather not say",
        "changed my mind",
        "long story",
    ),
}
CONFIRM_YES: tuple[str, ...] = (
    "Yes.",
    "yes, that's it",
    "yeah go for it",
    "uh huh",
    "mhm yes",
    "Yes, that's the order.",
    "correct, cancel it please",
    "yes do that",
    "that one, yes",
    "sure thing",
    "yess",
    "yea cancel it",
    "ya",
    "Yes I'm sure",
    "go on then",
    "please go ahead and cancel",
    "That's right, thank you.",
    "yes!! finally",
)
CONFIRM_NO: tuple[str, ...] = (
    "No.",
    "no wait",
    "hold on, no",
    "nah leave it be",
    "no no no",
    "don't do that",
    "no, I'll keep it actually",
    "wait don't cancel it",
    "hmm no, not yet",
    "no, stop",
    "I'd rather not",
    "negative",
    "Nope, I've changed my mind.",
)
CLOSING: tuple[str, ...] = (
    "no, that's all for today, thanks",
    "nope that's it, thx",
    "That's everything I needed, thank you!",
    "no thanks, bye",
    "nothing more, thanks",
    "no, you've been helpful",
    "all sorted, thanks",
    "that's it. bye",
    "no I'm good",
    "thx bye",
    "No, that covers it. Have a good day.",
    "nah that's all",
    "no that was it",
    "we're done here",
    "ok thanks bye",
)
ASK_HUMAN: tuple[str, ...] = (
    "let me talk to a real person",
    "can I speak with an actual human being?",
    "I don't want a bot, get me someone",
    "put me through to an agent",
    "is there a human I can talk to",
    "real person please",
    "this isn't working, I need a person",
    "stop. I want a live person",
    "transfer me to someone who can help",
    "I'd like to speak with a representative please",
    "get me a human NOW",
    "can a real agent take over?",
    "I want a supervisor",
    "connect me with a live rep",
    "you're useless. human please",
)
QUESTION_BACK: tuple[str, ...] = (
    "why do you need my email?",
    "can't you just look it up?",
    "what do you need that for?",
    "don't you have my details already?",
    "why do I have to verify anything?",
    "can't you find it by my name?",
    "which email, I have several",
    "where do I find the order number?",
    "is that really necessary?",
    "how do I know this is secure?",
    "didn't I already tell you?",
    "what order number? I just want my refund",
    "why does it matter why I'm cancelling?",
    "do I have to?",
)
SWITCH_INTENT: dict[str, tuple[str, ...]] = {
    "refund_status": (
        "actually, where's my refund instead?",
        "forget the cancellation, I just want to know where my refund is",
        "wait, forget that. Has my refund for {order_ref} come through?",
        "on second thought can you check a refund for me instead",
        "scratch that, it's about a refund",
        "hold on, what I really need is the refund status on {order_ref}",
    ),
    "cancel_order": (
        "actually, can you cancel {order_ref} instead?",
        "forget the refund, I need to cancel an order",
        "hold on, I'd rather cancel an order",
        "ok skip the refund thing, cancel my order",
        "oh and actually I want to cancel {order_ref}",
        "wait, different question: can I still cancel an order?",
    ),
}
WRONG_ORDER_REPLY: tuple[str, ...] = (
    "no, that's not the one",
    "that's a different order",
    "no, the other one",
    "not that order, a different one",
    "that's not what I meant",
    "wrong one",
    "no, I meant another order",
    "nope, wrong item",
    "it's not that one",
    "No. The other order.",
    "that one's fine, it's a different order I'm asking about",
)
SILENCE: tuple[str, ...] = ("", "...", "?", "??", ".", "..", "hm")
