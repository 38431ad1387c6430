"""Realistic people: names (minority names with a middle dot), ID numbers, phones, banks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from mapping import idcard

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国建华志强海燕春梅金凤德明文华永红玉珍国强丽华秀珍桂兰"
MINORITY = [("阿依古丽", "买买提", "维吾尔族"), ("迪丽娜尔", "艾力", "维吾尔族"), ("古丽", "吐尔逊", "维吾尔族"),
            ("热合曼", "阿不都", "维吾尔族"), ("努尔", "艾买提", "回族"), ("巴特尔", "额尔敦", "蒙古族")]
ETHNIC_MIX = [("汉族", 70), ("彝族", 8), ("白族", 5), ("哈尼族", 4), ("傣族", 3), ("回族", 3), ("苗族", 3),
              ("壮族", 2), ("纳西族", 2)]
BANKS = ["102", "103", "104", "105", "402"]


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    gender: str
    ethnicity: str
    birth_date: date
    phone: str
    hukou_type: str
    address: str
    village: str

    @property
    def age_2026(self) -> int:
        return 2026 - self.birth_date.year


def _name(rng: random.Random) -> tuple[str, str | None]:
    if rng.random() < 0.04:
        first, last, ethnicity = rng.choice(MINORITY)
        return f"{first}·{last}", ethnicity
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given, None


def _id_number(rng: random.Random, village: str, born: date, male: bool) -> str:
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    return idcard.make(f"{village[:6]}{born:%Y%m%d}{seq:03d}")


def make_person(rng: random.Random, village: str, village_name: str, today: date) -> Person:
    name, ethnicity = _name(rng)
    ethnicity = ethnicity or rng.choices([e for e, _ in ETHNIC_MIX], [w for _, w in ETHNIC_MIX])[0]
    born = today - timedelta(days=rng.randrange(17 * 366, 75 * 365))
    male = rng.random() < 0.5
    return Person(
        id_number=_id_number(rng, village, born, male), name=name, gender="M" if male else "F",
        ethnicity=ethnicity, birth_date=born, phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
        hukou_type="agricultural" if rng.random() < 0.8 else "non_agricultural",
        address=f"{village_name}{rng.randrange(1, 300)}号", village=village)


def bank_account(rng: random.Random, holder: str) -> dict[str, str]:
    return {"bank_code": rng.choice(BANKS), "account_no": f"6217{rng.randrange(10**15):015d}", "holder_name": holder}


def agent_name(agent_no: int) -> str:
    """The one agent of a village, the same name every time."""
    rng = random.Random(agent_no)
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2))
