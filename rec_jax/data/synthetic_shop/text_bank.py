"""Phrase banks that the synthetic shop composes item titles and descriptions from.

Each category has nouns and feature phrases; each taste (the latent style a user may like) has its own words, so
item text carries taste semantics that only a text model can read for items with no clicks.
"""

from __future__ import annotations

CATEGORIES = {
    "running shoes": (["running shoes", "trainers", "sneakers"],
                      ["with a cushioned sole", "with a breathable mesh upper", "for road and track"]),
    "backpack": (["backpack", "daypack", "rucksack"],
                 ["with a padded laptop sleeve", "with many pockets", "with adjustable straps"]),
    "headphones": (["headphones", "earbuds", "headset"],
                   ["with deep bass", "with noise cancelling", "with a long battery life"]),
    "coffee maker": (["coffee maker", "espresso machine", "coffee brewer"],
                     ["with a milk frother", "that brews in minutes", "with a glass carafe"]),
    "desk lamp": (["desk lamp", "reading light", "table lamp"],
                  ["with dimmable light", "with a flexible arm", "with warm and cool modes"]),
    "jacket": (["jacket", "coat", "parka"],
               ["with a detachable hood", "with zip pockets", "with a warm lining"]),
    "watch": (["watch", "wristwatch", "timepiece"],
              ["with a steel bracelet", "with a date window", "water resistant to fifty metres"]),
    "sofa": (["sofa", "couch", "loveseat"],
             ["with deep seat cushions", "that seats three", "with removable covers"]),
    "yoga mat": (["yoga mat", "exercise mat", "fitness mat"],
                 ["with a non slip surface", "with extra thickness", "with a carry strap"]),
    "phone case": (["phone case", "phone cover", "bumper case"],
                   ["with raised edges", "with a card slot", "that supports wireless charging"]),
    "cookware set": (["cookware set", "pan set", "pot set"],
                     ["with a nonstick coating", "that is oven safe", "with glass lids"]),
    "sunglasses": (["sunglasses", "shades", "sun glasses"],
                   ["with polarised lenses", "with uv protection", "with a slim frame"]),
    "tent": (["tent", "shelter", "camping tent"],
             ["for four people", "with a rain fly", "that pitches in minutes"]),
    "dress": (["dress", "gown", "sundress"],
              ["with a flowing skirt", "with a fitted waist", "with short sleeves"]),
    "keyboard": (["keyboard", "mechanical keyboard", "keypad"],
                 ["with backlit keys", "with quiet switches", "with a compact layout"]),
    "water bottle": (["water bottle", "flask", "drinking bottle"],
                     ["that keeps drinks cold", "with a leak proof lid", "with a wide mouth"]),
    "blender": (["blender", "smoothie maker", "food processor"],
                ["with a powerful motor", "with a large jar", "with pulse control"]),
    "scarf": (["scarf", "shawl", "wrap"],
              ["with fringed ends", "in a generous length", "with a soft handfeel"]),
    "bicycle helmet": (["bicycle helmet", "bike helmet", "cycling helmet"],
                       ["with air vents", "with an adjustable fit", "with a visor"]),
    "board game": (["board game", "strategy game", "party game"],
                   ["for two to six players", "for family nights", "with quick rounds"]),
}

# Words of each taste. A user's latent taste is a preference over these styles; the click model rewards a match
# between the user's taste and the item's style, which the item's text expresses.
TASTES = {
    "vintage": ["vintage", "retro", "classic", "heritage", "timeless", "antique"],
    "sporty": ["sporty", "athletic", "performance", "training", "active", "dynamic"],
    "eco": ["organic", "recycled", "sustainable", "eco", "bamboo", "natural"],
    "luxury": ["luxury", "premium", "deluxe", "silk", "handcrafted", "elegant"],
    "tech": ["smart", "wireless", "digital", "bluetooth", "connected", "app"],
    "cozy": ["cozy", "soft", "fleece", "warm", "plush", "snug"],
    "bold": ["vibrant", "neon", "colorful", "bold", "striking", "bright"],
    "outdoor": ["rugged", "waterproof", "trail", "outdoor", "durable", "weatherproof"],
}

TASTE_PHRASES = {
    "vintage": "inspired by designs of the past",
    "sporty": "built for people on the move",
    "eco": "made with care for the planet",
    "luxury": "finished with fine materials",
    "tech": "packed with clever electronics",
    "cozy": "made for relaxing at home",
    "bold": "designed to stand out",
    "outdoor": "ready for wind and rain",
}

# Paraphrases for new arrivals (`ShopSpec.cold_wording="paraphrase"`): the same eight tastes in words and phrases that
# no warm item uses, so only an encoder that already knows the language links a cold item to the taste it matches.
# None of these words occurs anywhere else in this bank.
COLD_TASTES = {
    "vintage": ["nostalgic", "bygone", "traditional", "throwback", "old-fashioned", "historic"],
    "sporty": ["energetic", "workout", "agile", "competitive", "speedy", "fitness-minded"],
    "eco": ["biodegradable", "renewable", "ethical", "compostable", "earth-friendly", "plant-based"],
    "luxury": ["opulent", "lavish", "exquisite", "upscale", "sumptuous", "refined"],
    "tech": ["electronic", "high-tech", "computerised", "automated", "programmable", "networked"],
    "cozy": ["comfy", "fluffy", "cuddly", "homely", "toasty", "velvety"],
    "bold": ["flashy", "loud", "eye-catching", "dazzling", "vivid", "fluorescent"],
    "outdoor": ["sturdy", "tough", "hardy", "wilderness", "all-weather", "expedition"],
}

COLD_TASTE_PHRASES = {
    "vintage": "recalling the look of earlier decades",
    "sporty": "meant for an energetic lifestyle",
    "eco": "kind to the environment",
    "luxury": "crafted to an exquisite standard",
    "tech": "full of ingenious gadgetry",
    "cozy": "perfect for lazy evenings indoors",
    "bold": "made to grab attention",
    "outdoor": "prepared for storms and mud",
}

# Attribute words carry no signal: they make texts differ and lengths vary, as in a real catalogue.
COLOURS = ["black", "white", "grey", "navy", "red", "green", "beige", "blue", "pink", "olive", "brown", "silver"]
MATERIALS = ["cotton", "steel", "leather", "wood", "plastic", "aluminium", "wool", "canvas", "glass", "nylon"]
BRAND_SYLLABLES = ["nor", "vel", "ka", "zen", "lum", "tor", "bri", "sa", "mo", "rex", "ori", "pax", "quin", "del"]
