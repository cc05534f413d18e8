"""Synthetic Chinese clinical notes with planted entities of the 15 Ruijin types, as brat (chapter 12).

Everything the chapter displays comes from here, never from the Ruijin corpus (no licence to show it).
Mentions are built from parts (a drug stem and a form, a site and a lesion, a number and a unit), so that a
test document can hold mentions whose surface form never occurs in training while their parts do: a quarter
of the surface forms (chosen by a hash, fixed for a seed) are *held out* and appear only in documents made
with ``held_out=True``. The texts are hard-wrapped every ``width`` characters like the Ruijin files, so some
entities cross a line break (discontinuous in brat); a quarter of the Disease mentions built on a site
hold a nested Anatomy entity; and
a coordination like "左、右下肢" plants a true discontinuous Anatomy entity.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..bio import RUIJIN_TYPES
from ..brat import Entity, write_document

__all__ = ["SyntheticDoc", "synthetic_documents", "write_synthetic_folder", "surface_forms", "is_held_out"]

_SITES = ["视网膜", "肾", "周围神经", "心肌", "肝", "胰腺", "甲状腺", "冠状动脉", "下肢血管", "足部"]
_LESIONS = ["病变", "损害", "功能不全", "炎", "病", "硬化"]
_DISEASE_PRE = ["糖尿病性", "慢性", "急性", "原发性", "继发性", ""]
_PLAIN_DISEASE = ["1型糖尿病", "2型糖尿病", "妊娠期糖尿病", "高血压", "高脂血症", "代谢综合征", "酮症酸中毒"]
_SIDES = ["左", "右", "双侧", ""]
_PARTS = ["肾脏", "肝脏", "胰岛", "眼底", "下肢", "足背", "颈动脉", "心脏", "小腿", "手指"]
_DRUG_STEMS = ["二甲双胍", "格列美脲", "阿卡波糖", "西格列汀", "达格列净", "利拉鲁肽", "吡格列酮", "阿托伐他汀",
               "氨氯地平", "瑞格列奈", "恩格列净", "格列齐特"]
_DRUG_FORMS = ["片", "缓释片", "胶囊", "注射液", ""]
_TEST_PRE = ["空腹", "餐后2小时", "随机", "糖化", "血清", "尿"]
_TEST_CORE = ["血糖", "血红蛋白", "胰岛素", "C肽", "肌酐", "白蛋白", "甘油三酯", "胆固醇"]
_UNITS = ["mmol/L", "%", "μmol/L", "mg/dL", "ng/mL"]
_SYM_SITE = ["四肢", "双足", "手指", "头部", "腰背", "眼部", "胸前区"]
_SYM_FEEL = ["麻木", "疼痛", "发凉", "刺痛", "乏力", "水肿", "瘙痒"]
_PLAIN_SYMPTOM = ["口渴", "多饮", "多尿", "视物模糊", "体重下降", "头晕", "心悸"]
_REASON_PRE = ["长期", "过度", "反复", ""]
_REASON_CORE = ["饮酒", "吸烟", "熬夜", "久坐", "高脂饮食", "精神紧张", "感染"]
_LEVELS = ["轻度", "中度", "重度", "严重", "显著", "明显"]
_DOSE_UNITS = ["mg", "U", "片", "g", "μg"]
_TREAT_PRE = ["强化", "综合", "个体化", "规范", "早期"]
_TREAT_CORE = ["降糖", "降压", "调脂", "胰岛素", "饮食", "运动"]
_TREAT_POST = ["治疗", "疗法", "干预"]
_DUR_UNITS = ["天", "周", "个月", "年"]
_METHODS = ["口服", "皮下注射", "静脉滴注", "肌内注射", "鼻饲", "含服"]
_SIDE_SITE = ["胃肠道", "皮肤", "肝功能", "肾功能", "消化道"]
_SIDE_KIND = ["反应", "不适", "损害", "异常", "出血"]
_PLAIN_SIDE = ["低血糖", "腹泻", "体重增加", "乳酸酸中毒", "皮疹"]
_OP_SITE = ["胰岛", "肾", "胃", "玻璃体", "冠脉", "足部溃疡", "胆囊"]
_OP_KIND = ["移植术", "切除术", "旁路手术", "搭桥术", "清创术", "修补术"]
_FREQ_UNIT = ["每日", "每周", "每晚", "每天"]


@dataclass(frozen=True)
class SyntheticDoc:
    """A synthetic brat document: id, wrapped text, entities (original offsets) (chapter 12)."""

    doc_id: str
    text: str
    entities: tuple[Entity, ...]


def is_held_out(surface: str, seed: int = 1234) -> bool:
    """Return True for the quarter of surface forms kept out of training documents (chapter 12)."""
    digest = hashlib.sha256(f"{seed}:{surface}".encode()).digest()
    return digest[0] % 4 == 0


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _mention(kind: str, rng: np.random.Generator) -> list[tuple[str, str | None]]:
    """Return the mention of ``kind`` as pieces ``(text, nested type or None)``."""
    p = lambda items: _pick(rng, items)  # noqa: E731
    if kind == "Disease":
        if rng.random() < 0.4:
            return [(p(_PLAIN_DISEASE), None)]
        nested = "Anatomy" if rng.random() < 0.25 else None  # a quarter of the sites are also annotated
        return [(p(_DISEASE_PRE), None), (p(_SITES), nested), (p(_LESIONS), None)]
    if kind == "Anatomy":
        return [(p(_SIDES) + p(_PARTS), None)]
    if kind == "Drug":
        return [(p(_DRUG_STEMS) + p(_DRUG_FORMS), None)]
    if kind == "Test":
        return [(p(_TEST_PRE) + p(_TEST_CORE), None)]
    if kind == "Test_Value":
        value = f"{rng.uniform(0.5, 30):.1f}"
        return [(("<" if rng.random() < 0.15 else "") + value + p(_UNITS), None)]
    if kind == "Symptom":
        if rng.random() < 0.3:
            return [(p(_PLAIN_SYMPTOM), None)]
        return [(p(_SYM_SITE) + p(_SYM_FEEL), None)]
    if kind == "Reason":
        return [(p(_REASON_PRE) + p(_REASON_CORE), None)]
    if kind == "Level":
        return [(p(_LEVELS), None)]
    if kind == "Amount":
        return [(f"{int(rng.integers(1, 60)) * 5}" + p(_DOSE_UNITS), None)]
    if kind == "Treatment":
        return [(p(_TREAT_PRE) + p(_TREAT_CORE) + p(_TREAT_POST), None)]
    if kind == "Duration":
        return [(f"{int(rng.integers(1, 30))}" + p(_DUR_UNITS), None)]
    if kind == "Method":
        return [(p(_METHODS), None)]
    if kind == "SideEff":
        if rng.random() < 0.3:
            return [(p(_PLAIN_SIDE), None)]
        return [(p(_SIDE_SITE) + p(_SIDE_KIND), None)]
    if kind == "Operation":
        return [(p(_OP_SITE) + p(_OP_KIND), None)]
    if kind == "Frequency":
        return [(p(_FREQ_UNIT) + f"{int(rng.integers(1, 5))}次", None)]
    raise ValueError(f"unknown entity type {kind!r}; the types are {', '.join(RUIJIN_TYPES)}")


# Sentence templates: literal text and {Type} slots.
_TEMPLATES = [
    "患者因{Reason}出现{Symptom}{Duration}，诊断为{Disease}。",
    "查{Test}为{Test_Value}，提示{Level}{Disease}。",
    "予{Drug}{Amount}{Method}，{Frequency}，疗程{Duration}。",
    "行{Operation}后给予{Treatment}，{Symptom}缓解。",
    "服用{Drug}后出现{SideEff}，遂停药并改用{Drug}。",
    "{Anatomy}超声检查未见异常，{Test}升高至{Test_Value}。",
    "建议{Treatment}并定期监测{Test}，警惕{SideEff}。",
    "既往有{Disease}病史{Duration}，伴{Level}{Symptom}。",
    "{Reason}是{Disease}的重要危险因素。",
    "研究显示{Drug}可使{Test}下降{Test_Value}。",
    "{Frequency}{Method}{Drug}{Amount}可改善{Anatomy}血流。",
    "合并{Disease}者需行{Operation}。",
]
_COORDINATION = "查体见左、右{part}{feel}。"  # true discontinuity: 左 ... part is one Anatomy entity


def _sentence(template: str, rng: np.random.Generator, held_out: bool, seed: int) -> tuple[str, list]:
    text, ents = "", []
    pos = 0
    while pos < len(template):
        brace = template.find("{", pos)
        if brace < 0:
            text += template[pos:]
            break
        text += template[pos:brace]
        close = template.index("}", brace)
        kind = template[brace + 1:close]
        for _ in range(50):
            pieces = _mention(kind, rng)
            surface = "".join(t for t, _ in pieces)
            if surface and is_held_out(surface, seed) == held_out or held_out and rng.random() < 0.5:
                break
        start = len(text)
        for piece, nested in pieces:
            if nested and piece:
                ents.append((nested, ((len(text), len(text) + len(piece)),)))
            text += piece
        ents.append((kind, ((start, len(text)),)))
        pos = close + 1
    return text, ents


def _wrap(text: str, ents: list, width: int) -> tuple[str, list[Entity]]:
    """Insert a newline every ``width`` characters; fragments split where a newline falls inside them."""
    if width <= 0:
        wrapped, shift = text, [0] * (len(text) + 1)
    else:
        pieces, shift = [], []
        for i, char in enumerate(text):
            if i and i % width == 0:
                pieces.append("\n")
            shift.append(len(pieces))
            pieces.append(char)
        shift.append(len(pieces))
        wrapped = "".join(pieces)
    out = []
    for k, (kind, spans) in enumerate(ents, start=1):
        frags: list[tuple[int, int]] = []
        for a, b in spans:
            start = shift[a]
            for i in range(a + 1, b):
                if shift[i] != shift[i - 1] + 1:  # a newline sits before character i
                    frags.append((start, shift[i - 1] + 1))
                    start = shift[i]
            frags.append((start, shift[b - 1] + 1))
        mention = " ".join(wrapped[x:y] for x, y in frags)
        out.append(Entity(f"T{k}", kind, tuple(frags), mention))
    return wrapped, out


def synthetic_documents(n_documents: int, *, seed: int = 1234, held_out: bool = False, width: int = 28,
                        sentences: tuple[int, int] = (6, 12), first_id: int = 0) -> list[SyntheticDoc]:
    """Return ``n_documents`` synthetic clinical notes with planted entities (chapter 12).

    ``held_out=False`` uses only surface forms not held out (training documents); ``held_out=True``
    draws about half of its mentions from the held-out forms (test documents). ``width`` is the hard-wrap
    width (0: no wrapping). The generator ``seed`` and ``first_id`` make different, reproducible sets.
    """
    rng = np.random.default_rng([seed, first_id, int(held_out)])
    docs = []
    for d in range(first_id, first_id + n_documents):
        text, ents = "", []
        for _ in range(int(rng.integers(sentences[0], sentences[1] + 1))):
            if rng.random() < 0.04:
                part, feel = _pick(rng, _PARTS[4:]), _pick(rng, _SYM_FEEL)
                sent = _COORDINATION.format(part=part, feel=feel)
                left = len(text) + sent.index("左")
                head = len(text) + sent.index(part)
                ents.append(("Anatomy", ((left, left + 1), (head, head + len(part)))))
                ents.append(("Anatomy", ((left + 2, head + len(part)),)))
                ents.append(("Symptom", ((head + len(part), head + len(part) + len(feel)),)))
                text += sent
                continue
            sent, sent_ents = _sentence(_pick(rng, _TEMPLATES), rng, held_out, seed)
            ents += [(k, tuple((a + len(text), b + len(text)) for a, b in s)) for k, s in sent_ents]
            text += sent
        wrapped, entities = _wrap(text, ents, width)
        docs.append(SyntheticDoc(f"syn{d:04d}", wrapped, tuple(entities)))
    return docs


def write_synthetic_folder(folder: str | os.PathLike[str], docs: Sequence[SyntheticDoc]) -> Path:
    """Write ``docs`` as brat ``.txt``/``.ann`` pairs into ``folder``; return it (chapter 12)."""
    root = Path(folder)
    for doc in docs:
        write_document(root, doc.doc_id, doc.text, doc.entities)
    return root


def surface_forms(docs: Sequence[SyntheticDoc]) -> set[tuple[str, str]]:
    """Return the ``(type, surface)`` pairs of the documents' entities, line breaks removed (chapter 12)."""
    return {(e.type, "".join(doc.text[a:b] for a, b in e.spans).replace("\n", "")) for doc in docs
            for e in doc.entities}
