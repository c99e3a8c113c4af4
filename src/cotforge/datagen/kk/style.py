"""The public generator's wording (``--style public``): its 18 attribution templates and its name pools.

Copied as data from the K&K generator of Xie et al. (2024) (``lib_kk.py``: ``TEMPLATES``,
``COMMON_NAMES``, ``UNCOMMON_NAMES``), in its order, so a ``public``-style dataset draws from
exactly the phrasings and names of the public release. One change of notation, not of text:
where the statement opens a quotation, the template says ``{Content}`` (capitalised start), as
cotforge's own templates do; after "that" it stays ``{content}`` (lower case). The statement
clauses themselves come from :mod:`.render` in both styles (parenthesised nesting, "it is not the
case that"), so the public renderer's slips are not reproduced.
"""

from __future__ import annotations

#: Styles of wording: cotforge's own templates and name pools, or the public generator's.
STYLES = ("cotforge", "public")

PUBLIC_TEMPLATES: tuple[str, ...] = (
    "{name} said that {content}.",
    "{name} told you that {content}.",
    '{name} said, "{Content}."',
    '{name} stated, "{Content}".',
    'According to {name}, "{Content}".',
    "In {name}'s words: \"{Content}\".",
    '{name} remarked, "{Content}".',
    '"{Content}," {name} declared.',
    '{name} was heard saying, "{Content}".',
    "{name} expressed that {content}.",
    '"{Content}" - {name}.',
    'As {name} put it, "{Content}".',
    '{name} asserted: "{Content}".',
    '"{Content}," {name} mentioned.',
    '{name} commented, "{Content}".',
    'In a statement by {name}: "{Content}".',
    '{name} noted, "{Content}".',
    '"{Content}," {name} claimed.',
)

PUBLIC_COMMON_NAMES: tuple[str, ...] = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "William",
    "Mia", "James", "Charlotte", "Benjamin", "Amelia", "Lucas", "Harper", "Henry", "Evelyn",
    "Alexander", "Abigail", "Michael", "Emily", "Daniel", "Elizabeth", "Jacob", "Sofia", "Logan",
    "Avery", "Jackson", "Ella", "Sebastian", "Scarlett", "Jack", "Grace", "Aiden", "Chloe", "Owen",
    "Victoria", "Samuel", "Riley", "Matthew", "Aria", "Joseph", "Lily", "Luke", "Aurora", "David",
    "Zoey", "Oliver", "Penelope",
)  # fmt: skip

PUBLIC_UNCOMMON_NAMES: tuple[str, ...] = (
    "Zephyr", "Elowen", "Caspian", "Isolde", "Osiris", "Vesper", "Thaddeus", "Ondine", "Lysander",
    "Xanthe", "Oberon", "Calliope", "Leander", "Eulalia", "Florian", "Forsythe", "Nephele",
    "Peregrine", "Ianthe", "Lazarus", "Elodie", "Cillian", "Ottoline", "Evander", "Saffron", "Caius",
    "Zora", "Cyprian", "Amaryllis", "Theron", "Perdita", "Ignatius", "Zephyrine", "Balthazar",
    "Melisande", "Zinnia", "Sylvester", "Cosima", "Leocadio", "Percival", "Oceane", "Evanthe",
    "Zenobia", "Eurydice", "Quillan", "Aeronwen", "Thorsten", "Xiomara", "Zephyrus", "Ysolde",
)  # fmt: skip
