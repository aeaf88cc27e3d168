"""CJK radicals as the CJK unified ideographs they look like (the CJK Radicals Supplement block,
U+2E80-U+2EFF), for the content filter: NFKD maps the Kangxi radicals (U+2F00-U+2FD5) to their
ideographs but not these, which are category So, so the filter dropped them and ``⻩色`` read as
``色``. From the Unicode Character Database's EquivalentUnifiedIdeograph.txt (UCD 14.0.0, by Ken
Lunde; (c) 2021 Unicode, Inc., terms of use: https://www.unicode.org/terms_of_use.html), its lines
for U+2E81 to U+2EF3 (U+2E80 and U+2E9A have no equivalent)."""

from __future__ import annotations

from typing import Final

_RADICALS: Final = (
    "⺁⺂⺃⺄⺅⺆⺇⺈⺉⺊⺋⺌⺍⺎⺏⺐⺑⺒⺓⺔⺕⺖⺗⺘⺙⺛⺜⺝⺞⺟⺠⺡⺢⺣⺤⺥⺦⺧⺨⺩"
    "⺪⺫⺬⺭⺮⺯⺰⺱⺲⺳⺴⺵⺶⺷⺸⺹⺺⺻⺼⺽⺾⺿⻀⻁⻂⻃⻄⻅⻆⻇⻈⻉⻊⻋⻌⻍⻎⻏⻐⻑"
    "⻒⻓⻔⻕⻖⻗⻘⻙⻚⻛⻜⻝⻞⻟⻠⻡⻢⻣⻤⻥⻦⻧⻨⻩⻪⻫⻬⻭⻮⻯⻰⻱⻲⻳"
)
_IDEOGRAPHS: Final = (
    "厂乛乚乙亻冂𠘨刀刂卜㔾小小兀尣尢𡯂巳幺彑彐忄心扌攵旡日月歺母民氵氺灬爫爫丬牛犭王"
    "𤴔目示礻𥫗糹纟罓罒㓁冗𦉫羊𦍌𦍋耂肀聿肉𦥑艹艹艹虎衤覀西见角𧢲讠贝𧾷车辶辶辶邑钅長"
    "镸长门𨸏阝雨青韦页风飞食𩙿飠饣𩠐马骨鬼鱼鸟卤麦黄黾斉齐歯齿竜龙龜亀龟"
)
assert len(_RADICALS) == len(_IDEOGRAPHS)

EQUIVALENT_IDEOGRAPH: Final[dict[str, str]] = dict(zip(_RADICALS, _IDEOGRAPHS, strict=True))
"""CJK Radicals Supplement character -> the unified ideograph it is equivalent to."""
