"""The synthetic biomedical corpus with planted structure (chapter 7; used by chapters 8-14).

The synthetic corpus is a teaching instrument: it looks like the titles and abstracts of COVID-era papers
and its structure is known, so tests and hidden claims can check that a method recovers it.

* **Categories** (viruses, symptoms, drugs, genes, organs, cell types, diseases): the members of a category
  fill the same sentence templates, so they share contexts; within a category their frequencies fall off
  like Zipf's law, and every category has rare members (:attr:`SyntheticCorpus.rare_words`).
* **Co-occurrences**: pairs planted in the same sentence far more often than chance
  (:attr:`SyntheticCorpus.cooccurrences`).
* **Synonyms** used interchangeably in the same templates (``fever`` / ``pyrexia``) and **abbreviations**
  introduced with their long forms (``interleukin 6 (IL-6)``).
* **Tricky strings** for tokenizers: ``SARS-CoV-2``, ``COVID-19``, ``2019-nCoV``, ``IL-6``,
  ``hydroxychloroquine`` and the range ``2–14`` (``2&ndash;14`` with ``defects=True``).
* **Zipfian vocabulary**: background sentences draw words from a fixed vocabulary with Zipf weights, which
  gives a long tail of rare types (Heaps' law, hapaxes).
* **The seed's defects** with ``defects=True``: HTML entities left in, CRLF line breaks, decomposed Unicode,
  duplicated records and missing titles or abstracts.
* **Domain shift** with ``domain=1``: laboratory (molecular) templates instead of clinical ones and other
  word frequencies, over the same category vocabulary (chapter 10 adapts a model from domain 0 to 1).
"""

from __future__ import annotations

import html
import itertools
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import CourseError
from .readers import Document

__all__ = [
    "SyntheticCorpus",
    "CorpusError",
    "CATEGORIES",
    "RARE_MEMBERS",
    "SYNONYMS",
    "ABBREVIATIONS",
    "COOCCURRENCES",
    "TRICKY_STRINGS",
    "SURFACE_FORMS",
    "synthetic_corpus",
]


class CorpusError(CourseError, ValueError):
    """A corpus request the course cannot serve (unknown corpus name, bad size) (chapter 7)."""


@dataclass(frozen=True)
class SyntheticCorpus:
    """A synthetic corpus and the ground truth planted in it (chapter 7; used by chapters 8-11)."""

    documents: tuple[Document, ...]
    categories: dict[str, tuple[str, ...]]
    rare_words: frozenset[str]
    cooccurrences: tuple[tuple[str, str], ...]
    synonyms: tuple[tuple[str, ...], ...]
    abbreviations: dict[str, str]
    domain: int
    seed: int
    defects: bool = False
    n_duplicates: int = 0
    n_missing_titles: int = 0
    n_missing_abstracts: int = 0
    tricky_strings: tuple[str, ...] = field(default=())

    def texts(self) -> list[str]:
        """Return every document's ``.text`` (title + " " + abstract), in order (chapter 7)."""
        return [doc.text for doc in self.documents]

    def category_of(self, word: str) -> str | None:
        """Return the category of ``word`` (a lower-case token), or None if it is in none (chapters 8-11)."""
        for name, members in self.categories.items():
            if word in members:
                return name
        return None


# --------------------------------------------------------------------------------------------------
# The planted vocabulary. Members are lower-case single tokens of course_utils.text.tokenize.words;
# frequent members come first (Zipf within the category in domain 0), rare members last.

CATEGORIES: dict[str, tuple[str, ...]] = {
    "virus": ("sars-cov-2", "influenza", "rsv", "mers-cov", "rhinovirus", "adenovirus", "norovirus",
              "metapneumovirus", "hantavirus", "2019-ncov"),
    "symptom": ("fever", "cough", "fatigue", "dyspnea", "headache", "myalgia", "diarrhoea", "anosmia",
                "ageusia", "pyrexia"),
    "drug": ("dexamethasone", "remdesivir", "hydroxychloroquine", "tocilizumab", "lopinavir", "favipiravir",
             "ivermectin", "oseltamivir", "baricitinib", "hcq"),
    "gene": ("ace2", "il-6", "tmprss2", "tnf", "stat3", "cxcl10", "ifnb1", "jak2", "furin", "nlrp3"),
    "organ": ("lung", "heart", "kidney", "liver", "brain", "spleen", "intestine", "pancreas", "thymus",
              "adrenal"),
    "cell": ("macrophages", "neutrophils", "lymphocytes", "monocytes", "fibroblasts", "platelets",
             "pneumocytes", "eosinophils"),
    "disease": ("covid-19", "pneumonia", "sepsis", "ards", "myocarditis", "bronchiolitis", "diabetes",
                "hypertension", "mis-c"),
}

#: Rare members: drawn with a small fixed weight (a few to a few dozen times in 2,000 documents).
RARE_MEMBERS: frozenset[str] = frozenset({
    "hantavirus", "2019-ncov", "ageusia", "pyrexia", "baricitinib", "furin", "nlrp3", "thymus",
    "adrenal", "pneumocytes", "eosinophils", "mis-c",
})

#: Synonym sets: the second form replaces the first in a small share of its mentions (same contexts).
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("fever", "pyrexia"),
    ("sars-cov-2", "2019-ncov"),
    ("hydroxychloroquine", "hcq"),
)

#: Abbreviations as they are written in the text, with the long form they are introduced with.
ABBREVIATIONS: dict[str, str] = {
    "IL-6": "interleukin 6",
    "ACE2": "angiotensin-converting enzyme 2",
    "ARDS": "acute respiratory distress syndrome",
    "HCQ": "hydroxychloroquine",
    "ICU": "intensive care unit",
    "RT-PCR": "reverse transcription polymerase chain reaction",
    "TNF": "tumour necrosis factor",
    "MIS-C": "multisystem inflammatory syndrome in children",
}

#: Planted pairs (lower-case tokens) that share a sentence far more often than chance.
COOCCURRENCES: tuple[tuple[str, str], ...] = (
    ("sars-cov-2", "ace2"),
    ("tocilizumab", "il-6"),
    ("oseltamivir", "influenza"),
    ("anosmia", "covid-19"),
    ("dexamethasone", "ards"),
)
_PAIR_SENTENCES = {
    ("sars-cov-2", "ace2"): ("SARS-CoV-2 enters host cells through the ACE2 receptor.",
                             "Binding of SARS-CoV-2 to ACE2 is the first step of entry."),
    ("tocilizumab", "il-6"): ("Tocilizumab blocks the receptor of IL-6.",
                              "Tocilizumab was given to patients with high IL-6."),
    ("oseltamivir", "influenza"): ("Oseltamivir shortens the course of influenza.",
                                   "Oseltamivir was prescribed for suspected influenza."),
    ("anosmia", "covid-19"): ("Sudden anosmia is an early sign of COVID-19.",
                              "Anosmia was common among outpatients with COVID-19."),
    ("dexamethasone", "ards"): ("Dexamethasone reduced mortality in ARDS.",
                                "Patients with ARDS benefited from dexamethasone."),
}

#: The strings every tokenizer of chapter 7 is tested on (``2&ndash;14`` is the seed's entity left in).
TRICKY_STRINGS: tuple[str, ...] = ("SARS-CoV-2", "COVID-19", "2019-nCoV", "IL-6", "hydroxychloroquine", "2&ndash;14")

#: How members are written in running text (others are written as they are).
SURFACE_FORMS: dict[str, str] = {
    "sars-cov-2": "SARS-CoV-2", "mers-cov": "MERS-CoV", "rsv": "RSV", "2019-ncov": "2019-nCoV",
    "covid-19": "COVID-19", "ards": "ARDS", "mis-c": "MIS-C", "hcq": "HCQ", "ace2": "ACE2", "il-6": "IL-6",
    "tmprss2": "TMPRSS2", "tnf": "TNF", "stat3": "STAT3", "cxcl10": "CXCL10", "ifnb1": "IFNB1", "jak2": "JAK2",
    "nlrp3": "NLRP3",
}

# Templates: {X} is a member of the category. Domain 0 is clinical, domain 1 laboratory.
_TEMPLATES: dict[int, dict[str, tuple[str, ...]]] = {
    0: {
        "virus": (
            "{X} was detected in nasopharyngeal swabs.",
            "The {X} strain was isolated and the viral load was measured.",
            "Infection with {X} spread rapidly during the outbreak.",
            "Adults infected with {X} were admitted to hospital.",
            "Viral shedding of {X} peaked within days of exposure.",
        ),
        "symptom": (
            "The most common presenting symptom was {X}.",
            "{X} was reported at onset by {P}% of participants.",
            "Persistent {X} lasted for weeks after discharge.",
            "Mild {X} resolved without specific care.",
            "Children presented with {X} at triage.",
        ),
        "drug": (
            "Participants received {X} at a daily dose of {N} mg.",
            "Treatment with {X} was started on admission.",
            "{X} was administered orally for five days.",
            "A randomized trial compared {X} with placebo.",
            "The efficacy of {X} was evaluated in hospitalised adults.",
        ),
        "gene": (
            "Serum levels of {X} were elevated in severe cases.",
            "Polymorphisms in the {X} gene were associated with severity.",
            "Expression of {X} was upregulated in blood samples.",
            "Circulating {X} correlated with the inflammatory markers.",
            "Genotyping of {X} was performed in the cohort.",
        ),
        "organ": (
            "Autopsy revealed damage to the {X}.",
            "Imaging showed lesions in the {X}.",
            "Injury of the {X} was frequent among fatal cases.",
            "{X} function was impaired at presentation.",
            "Biopsies of the {X} showed necrosis.",
        ),
        "cell": (
            "Counts of {X} were reduced in peripheral blood.",
            "Activated {X} infiltrated the alveolar space.",
            "Flow cytometry showed exhausted {X}.",
            "The proportion of {X} predicted the outcome.",
            "Naïve {X} were depleted in nonsurvivors.",
        ),
        "disease": (
            "Patients diagnosed with {X} had a higher mortality.",
            "The incidence of {X} rose during the epidemic.",
            "Risk factors for {X} included age and obesity.",
            "{X} was a leading cause of admission to the ICU.",
            "Surveillance of {X} relied on notification data.",
        ),
    },
    1: {
        "virus": (
            "The genome of {X} was sequenced and aligned.",
            "Vero cells were inoculated with {X} at a low multiplicity.",
            "The spike glycoprotein of {X} was expressed and purified.",
            "Phylogenetic analysis placed {X} in a distinct clade.",
            "Plaque assays quantified infectious {X} in supernatants.",
        ),
        "symptom": (
            "In the hamster model, {X} developed within two days of challenge.",
            "Animals showing {X} were scored daily.",
            "Volunteers recorded {X} in an electronic diary.",
            "The challenge dose determined the severity of {X}.",
        ),
        "drug": (
            "{X} inhibited viral replication in vitro with a low IC50.",
            "Docking predicted that {X} binds the protease pocket.",
            "Cells were incubated with {X} at micromolar concentrations.",
            "The pharmacokinetics of {X} were modelled in mice.",
        ),
        "gene": (
            "Knockout of {X} abolished entry in cell lines.",
            "The coding sequence of {X} was cloned into an expression vector.",
            "CRISPR screens identified {X} as a host factor.",
            "Transcripts of {X} were quantified by qPCR.",
        ),
        "organ": (
            "Organoids derived from {X} tissue were infected.",
            "Single-cell sequencing of the {X} revealed new subsets.",
            "Transcripts were profiled in the {X} of infected mice.",
            "Sections of the {X} were stained with antibodies.",
        ),
        "cell": (
            "Isolated {X} were stimulated with ligands.",
            "Sorted {X} were lysed for sequencing.",
            "Cultured {X} secreted cytokines after stimulation.",
            "Reporter {X} were transfected with plasmids.",
        ),
        "disease": (
            "Mouse models of {X} were established.",
            "Pathways enriched in {X} were identified by transcriptomics.",
            "A humanized model recapitulated {X}.",
            "The pathogenesis of {X} involves several pathways.",
        ),
    },
}

# Generic frames shared by every category; {c} is a context word from the category's pool, so members of a
# category share many moderately frequent contexts while the frames' function words are shared by all.
_FRAMES: dict[int, tuple[str, ...]] = {
    0: (
        "The {c} of {X} was {f} in the {f} of {N} patients.",
        "{X} was {c} and {f} in the {f} {f}.",
        "We describe the {f} of {c} {X} with {f} {f}.",
        "In the {f} {f}, {X} was {c} by the {f}.",
        "The {f} {f} of {X} was {c} in the {f}.",
    ),
    1: (
        "The {c} of {X} was {f} in the {f} of {N} replicates.",
        "{X} was {c} and {f} in the {f} assay.",
        "We characterised the {f} of {c} {X} with {f} {f}.",
        "In the {f} {f}, {X} was {c} after {N} hours.",
    ),
}
_POOLS: dict[int, dict[str, tuple[str, ...]]] = {
    0: {
        "virus": tuple("strain viral load shedding isolate lineage transmission outbreak spread swab detected "
                       "emerging novel seasonal zoonotic infectious nasopharyngeal carriage reinfection".split()),
        "symptom": tuple("presenting reported persistent mild onset complaint resolved experienced recurrent "
                         "intermittent prolonged self-reported worsening sudden bothersome triage".split()),
        "drug": tuple("dose daily oral intravenous administered regimen prescribed therapy placebo efficacy safety "
                      "adverse tolerated course dosing antiviral randomized discontinued".split()),
        "gene": tuple("expression polymorphism allele genotype upregulated serum transcript encoding locus "
                      "biomarker elevated signalling pathway cytokine plasma concentrations".split()),
        "organ": tuple("damage injury lesions biopsy autopsy imaging necrosis failure dysfunction involvement "
                       "histology fibrosis oedema perfusion ultrasound enlarged impaired".split()),
        "cell": tuple("counts infiltrating activated exhausted depleted subset cytometry peripheral naïve memory "
                      "effector differentiation absolute sorted clonal lymphopenia".split()),
        "disease": tuple("diagnosed incidence mortality prevalence admission surveillance severity hospitalisation "
                         "burden complication comorbidity prognosis fatal notified deaths".split()),
    },
    1: {
        "virus": tuple("genome sequenced clade spike glycoprotein plaque titre inoculated passage mutation "
                       "recombinant pseudotyped culture supernatant phylogenetic".split()),
        "symptom": tuple("challenge scored hamster animals diary observed monitored weight signs volunteers "
                         "inoculation model graded".split()),
        "drug": tuple("inhibited ic50 docking compound micromolar incubated pharmacokinetics screening potency "
                      "cytotoxicity analogue binding".split()),
        "gene": tuple("knockout cloned vector crispr qpcr transfected overexpressed silenced promoter construct "
                      "reporter sgrna".split()),
        "organ": tuple("organoids sections stained tissue single-cell profiled explants slices dissected "
                       "homogenates atlas".split()),
        "cell": tuple("isolated stimulated lysed cultured transfected sorted ligands secreted primary "
                      "co-culture passaged".split()),
        "disease": tuple("mouse model pathogenesis pathways transcriptomics humanized recapitulated phenotype "
                         "enriched mechanism".split()),
    },
}

_TITLE_TEMPLATES: dict[int, tuple[str, ...]] = {
    0: (
        "Clinical characteristics of {disease} in adults infected with {virus}",
        "{drug} for the treatment of {disease}: a randomized trial",
        "{symptom} as an early sign of {disease}",
        "Role of {gene} in {organ} injury during {virus} infection",
        "{cell} in the {organ} of patients with {disease}",
        "Epidemiology of {virus} in a regional cohort",
    ),
    1: (
        "Structural basis of {gene} recognition by {virus}",
        "{drug} inhibits {virus} replication in vitro",
        "A single-cell atlas of {cell} in the {organ}",
        "{gene} knockout mice are protected from {disease}",
        "Host factors of {virus} identified by genome-wide screens",
    ),
}

_OTHER_SENTENCES: dict[int, tuple[str, ...]] = {
    0: (
        "The incubation period ranged from 2–14 days.",
        "The difference was significant (p < 0.05).",
        "Patients' outcomes were followed for {N} days.",
        "Data were collected by clinicians & nurses.",
        "We enrolled {N} patients in {N} hospitals.",
    ),
    1: (
        "Replication kinetics were measured over 2–14 days.",
        "Differences were significant (p < 0.01).",
        "Each experiment was repeated {N} times.",
        "Reads were mapped with default parameters.",
    ),
}

# A background vocabulary for Zipfian filler sentences: real words first, then generated pseudo-words.
_BACKGROUND = (
    "analysis study data results method model effect group level rate risk time years factor response "
    "role use development treatment population association pattern change evidence approach system value "
    "increase review range area sample control quality region network process measure structure number "
    "function trend difference impact health care cost information design framework cohort variable test "
    "estimate scale period distribution strategy evaluation assessment performance outcome condition "
    "exposure history practice policy community setting program resource capacity management workflow "
    "protocol indicator score index profile feature signal threshold baseline interval ratio proportion "
    "frequency variation trajectory cluster season climate temperature humidity mobility travel contact "
    "household school workplace vaccine coverage uptake hesitancy awareness knowledge attitude behaviour "
    "survey questionnaire interview literature database registry record report guideline recommendation "
    "consensus expert panel committee journal article editorial letter commentary perspective opinion"
).split()


def _pseudo_words(n: int) -> list[str]:
    rng = random.Random(20_200_101)
    onsets = ["b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl", "pr", "st", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io"]
    codas = ["", "n", "r", "s", "l", "x", "m", "nt", "st"]
    taken = {w for members in CATEGORIES.values() for w in members} | set(_BACKGROUND)
    out: list[str] = []
    while len(out) < n:
        syllables = rng.choice((2, 3, 3, 4))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


_PSEUDO = _pseudo_words(20000 + 7 * 30)
_VOCAB = tuple(_BACKGROUND + _PSEUDO[:20000])
# each category's context pool also holds 30 words of its own (invented technical terms), so the contexts that
# tell categories apart are many and each moderately rare, as in real text, while function words are shared
for _domain_pools in _POOLS.values():
    for _k, _name in enumerate(sorted(_domain_pools)):
        _domain_pools[_name] = _domain_pools[_name] + tuple(_PSEUDO[20000 + 30 * _k : 20000 + 30 * (_k + 1)])
_FILLERS = (
    "We examined the {f} of {f} {f} and {f} {f} in {f} {f}.",
    "The {f} {f} was associated with {f} {f} and {f} {f}.",
    "Changes in {f} {f} and {f} were {f} across {f} {f}.",
    "This {f} suggests a {f} {f} of {f} {f} for {f}.",
    "{f} {f} and {f} {f} were compared across {f} {f} {f}.",
)


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _member_weights(members: Sequence[str], domain: int) -> list[float]:
    frequent = [m for m in members if m not in RARE_MEMBERS]
    ranks = range(len(frequent)) if domain == 0 else range(len(frequent) - 1, -1, -1)  # domain 1 reverses
    weight = dict(zip(frequent, (1.0 / (r + 1) for r in ranks), strict=True))
    total = sum(weight.values())
    return [weight.get(m, 0.02 * total / len(frequent)) for m in members]


def _surface(word: str) -> str:
    return SURFACE_FORMS.get(word, word)


def _capitalise(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:] if sentence and sentence[0].islower() else sentence


class _Generator:
    def __init__(self, seed: int, domain: int) -> None:
        self.rng = random.Random(seed * 7919 + domain)
        self.domain = domain
        self.templates = _TEMPLATES[domain]
        self.names = list(CATEGORIES)
        # synonyms are not drawn directly: they replace their head word in some mentions
        self.synonym_of = {s: head for head, *rest in SYNONYMS for s in rest}
        self.members = {c: [m for m in ms if m not in self.synonym_of] for c, ms in CATEGORIES.items()}
        self.cum = {c: _cumulative(_member_weights(ms, domain)) for c, ms in self.members.items()}
        ranks = range(len(_VOCAB)) if domain == 0 else _shuffled_ranks(len(_VOCAB))
        self.vocab_cum = _cumulative([1.0 / (r + 1) for r in ranks])

    def member(self, category: str) -> str:
        word = self.rng.choices(self.members[category], cum_weights=self.cum[category])[0]
        for head, *rest in SYNONYMS:
            if word == head and self.rng.random() < 0.08:
                return self.rng.choice(rest)
        return word

    def fill(self, template: str, category: str | None = None) -> str:
        out = template
        while "{X}" in out:
            out = out.replace("{X}", _surface(self.member(category or "virus")), 1)
        for name in self.names:
            while "{" + name + "}" in out:
                out = out.replace("{" + name + "}", _surface(self.member(name)), 1)
        while "{N}" in out:
            out = out.replace("{N}", str(self.rng.randint(2, 400)), 1)
        while "{P}" in out:
            out = out.replace("{P}", str(self.rng.randint(5, 95)), 1)
        while "{f}" in out:
            out = out.replace("{f}", self.rng.choices(_VOCAB, cum_weights=self.vocab_cum)[0], 1)
        return _capitalise(out)

    def sentence(self) -> str:
        u = self.rng.random()
        if u < 0.10:
            category = self.rng.choice(self.names)
            return self.fill(self.rng.choice(self.templates[category]), category)
        if u < 0.58:
            category = self.rng.choice(self.names)
            frame = self.rng.choice(_FRAMES[self.domain])
            pool = _POOLS[self.domain][category]
            while "{c}" in frame:
                frame = frame.replace("{c}", self.rng.choice(pool), 1)
            return self.fill(frame, category)
        if u < 0.66:
            pair = self.rng.choice(COOCCURRENCES)
            return self.rng.choice(_PAIR_SENTENCES[pair])
        if u < 0.70:
            abbr = self.rng.choice(list(ABBREVIATIONS))
            return _capitalise(f"levels of {ABBREVIATIONS[abbr]} ({abbr}) were reported.") if abbr in (
                "IL-6", "TNF") else _capitalise(f"the {ABBREVIATIONS[abbr]} ({abbr}) was recorded.")
        if u < 0.75:
            return self.fill(self.rng.choice(_OTHER_SENTENCES[self.domain]))
        return self.fill(self.rng.choice(_FILLERS))

    def document(self, index: int) -> Document:
        title = self.fill(self.rng.choice(_TITLE_TEMPLATES[self.domain]))
        n = self.rng.randint(5, 9)
        abstract = " ".join(self.sentence() for _ in range(n))
        return Document(f"syn{self.domain}-{index:06d}", title, abstract, "synthetic")


def _shuffled_ranks(n: int) -> list[int]:
    ranks = list(range(n))
    random.Random(1).shuffle(ranks)
    return ranks


def _add_defects(docs: list[Document], rng: random.Random) -> tuple[list[Document], int, int, int]:
    """Apply the seed's defects in place of some documents; return (docs, duplicates, no title, no abstract)."""
    out: list[Document] = []
    missing_t = missing_a = 0
    for doc in docs:
        title, abstract = doc.title, doc.abstract
        if rng.random() < 0.6:  # HTML entities left in, as in the seed's text file
            abstract = html.escape(abstract, quote=True).replace("–", "&ndash;").replace("\u00a0", "&nbsp;")
            title = html.escape(title, quote=False)
        if rng.random() < 0.3:  # Windows line breaks between some sentences
            abstract = abstract.replace(". ", ".\r\n", 2)
        if rng.random() < 0.1:
            abstract = unicodedata.normalize("NFD", abstract)
        u = rng.random()
        if u < 0.05:
            abstract, missing_a = "", missing_a + 1
        elif u < 0.06:
            title, missing_t = "", missing_t + 1
        out.append(Document(doc.doc_id, title, abstract, doc.source))
    n_dup = max(1, len(out) // 40) if len(out) >= 2 else 0
    for _ in range(n_dup):  # duplicated records replace others at random positions (same id, same text)
        src, dst = rng.randrange(len(out)), rng.randrange(len(out))
        if src != dst:
            out[dst] = out[src]
    ids = [d.doc_id for d in out]
    duplicates = len(ids) - len(set(ids))
    missing_t = sum(1 for d in out if not d.title)
    missing_a = sum(1 for d in out if not d.abstract)
    return out, duplicates, missing_t, missing_a


def synthetic_corpus(n_documents: int, *, seed: int = 1234, domain: int = 0, defects: bool = False) -> SyntheticCorpus:
    """Return a deterministic synthetic corpus of ``n_documents`` titles + abstracts with planted structure
    (chapter 7; used by chapters 8-11).

    Same arguments, same corpus. ``domain=1`` switches to laboratory templates and other word frequencies
    over the same categories; ``defects=True`` adds the seed's defects (entities, CRLF, decomposed Unicode,
    duplicated records, missing fields), which ``course_utils.text.readers.clean_text`` and the readers
    repair. 5,000 documents take about a second.
    """
    if n_documents < 1:
        raise CorpusError(f"A synthetic corpus needs at least one document, not {n_documents}.")
    if domain not in _TEMPLATES:
        raise CorpusError(f"Unknown domain {domain!r}: the synthetic corpus has domains 0 (clinical) and 1 (laboratory).")
    gen = _Generator(seed, domain)
    docs = [gen.document(i) for i in range(n_documents)]
    n_dup = n_t = n_a = 0
    if defects:
        docs, n_dup, n_t, n_a = _add_defects(docs, random.Random(seed * 31 + domain))
    return SyntheticCorpus(
        documents=tuple(docs),
        categories={name: tuple(members) for name, members in CATEGORIES.items()},
        rare_words=RARE_MEMBERS,
        cooccurrences=COOCCURRENCES,
        synonyms=SYNONYMS,
        abbreviations=dict(ABBREVIATIONS),
        domain=domain,
        seed=seed,
        defects=defects,
        n_duplicates=n_dup,
        n_missing_titles=n_t,
        n_missing_abstracts=n_a,
        tricky_strings=TRICKY_STRINGS,
    )
