"""Lab-path rehearsal of chapters 7-14 on a CPU (marker ``lab_rehearsal``; part of the CI run).

Each chapter notebook is executed top to bottom with nbclient in ``COURSE_PROFILE=lab`` (and ``full`` where its
code path differs from lab's), on the CPU, with:

* a temporary ``COURSE_DATA_DIR`` laid out exactly as ``python -m course_utils.data fetch NAME`` lays it out
  (``tests/rehearsal/datasets.py``): the real files of ``$COURSE_REAL_DATA`` where they are in the manifest's own
  format, small fixtures in the manifest's exact format where they are not, and fixtures made by the course's own
  generators when ``COURSE_REAL_DATA`` is unset;
* every hub model replaced by a tiny random stand-in of the same architecture class, tokenizer class, special
  tokens and pooling (``tests/rehearsal/standins.py``). The one mechanism that selects them: they are staged into
  the temporary ``COURSE_DATA_DIR`` exactly where ``fetch`` puts the real model (``COURSE_DATA_DIR/NAME/``), with
  the course's own ``course_utils.data.stage``; since a stand-in cannot match the real weights' pinned sha256,
  ``COURSE_MANIFEST_DIR`` points at a copy of the manifests in which only the pins of the stand-in files that
  differ from the real ones are removed (so their checksums are recorded in ``checksums.lock`` on staging, as for
  any unpinned download; bert-base-uncased's vocab.txt and tokenizer_config.json are the real files and stay
  pinned). The profile is never edited;
* the schedule shortened by the one documented override, ``COURSE_SCHEDULE_OVERRIDE`` (per-chapter objects, see
  :data:`SCHEDULE` and ``course_utils/profiles.py``); claims that need the full schedule are evaluated and, when
  they fail, logged as waived with the notebook's reason (``course_utils/claims.py``);
* no network and nothing written outside temporary folders: ``COURSE_OFFLINE=1``, ``HF_HUB_OFFLINE=1``,
  ``TRANSFORMERS_OFFLINE=1``, ``HF_ENDPOINT=http://127.0.0.1:9`` (any hub call fails at once), ``HF_HOME``,
  ``XDG_CACHE_HOME``, ``MPLCONFIGDIR``, ``IPYTHONDIR``, ``JUPYTER_RUNTIME_DIR``, ``COURSE_WORK_DIR`` and even
  ``HOME`` in the test's temporary folder, ``COURSE_STATIC_FIGURES=1``, ``MPLBACKEND=Agg``, ``CUDA_VISIBLE_DEVICES=``
  and ``COURSE_DEVICE=cpu``, and ``COURSE_REAL_DATA`` removed from the kernel's environment (the notebooks read only the data folder). After each
  chapter the test checks that the repository gained no file, that the data folder is unchanged, and that no
  file appeared in the real home's Hugging Face cache, the course's default cache folder or ``~/nltk_data``; it
  lists what the kernel wrote under its temporary ``HOME``.

Every claim a chapter checks is logged (``COURSE_CLAIMS_LOG``); the test prints each chapter's time and its claims
held / waived (with the notebook's reason), its wall time and its kernel's CPU seconds, and fails when a cell
raised or a claim failed, naming the cell (Chinese text in messages is elided: no Ruijin text reaches a log).
Each chapter is its own test class, so pytest-xdist's ``--dist loadscope`` (pyproject's addopts) spreads them
over both workers; the data folder is built once and shared by the workers.

Run one chapter (here 12) against the real data::

    COURSE_REAL_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -m lab_rehearsal tests/test_lab_rehearsal.py -k ch12 -s

or all of them without real data (fixtures from the course's generators)::

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -o addopts="" -p no:cacheprovider -m lab_rehearsal tests/test_lab_rehearsal.py -s

``COURSE_REHEARSAL_DIR`` keeps the run's folders (data, work, claims logs, ``summary.json``) there instead of in
pytest's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = {
    7: "notebooks/part2_words/07_corpus_and_tokenizers.ipynb",
    8: "notebooks/part2_words/08_counting.ipynb",
    9: "notebooks/part2_words/09_skipgram.ipynb",
    10: "notebooks/part2_words/10_mlm_lora.ipynb",
    11: "notebooks/part2_words/11_exploring_embeddings.ipynb",
    12: "notebooks/part3_ie/12_chinese_ner.ipynb",
    13: "notebooks/part3_ie/13_biored_relations.ipynb",
    14: "notebooks/part3_ie/14_entity_linking.ipynb",
}

#: The one override of the rehearsal: each chapter's lab (or full) settings, only smaller and shorter (never the
#: data, model or seed). Kernel CPU seconds measured with these values (2026-12-07, real data): chapter 7 13,
#: 8 21, 9 20, 10 59, 11 about 110, 12 about 40, 13 25, 14 32; about six minutes of CPU in all, three on two cores.
SCHEDULE: dict[str, dict[str, object]] = {
    "7": {"max_documents": 2000, "compare_documents": 300},
    "8": {"max_documents": 2000, "dim": 100, "dense_words": 1000, "ngram_max_order": 3},
    "9": {"max_documents": 2000, "epochs": 3, "loop_sentences": 30},
    "10": {"max_documents": 200, "max_length": 64, "epochs": 0.5, "batch_size": 8},
    "11": {"n_frequent_words": 300, "tsne_iter": 300, "n_bootstrap": 50},
    "12": {"max_documents": 8, "max_eval_documents": 3, "max_length": 64, "lstm_hidden": 32, "epochs": 1,
           "ablation_epochs": 1, "batch_size": 16},
    "13": {"max_length": 64, "epochs": 1, "ner_epochs": 1, "pretrained_epochs": 1, "train_documents": 40,
           "test_documents": 20},
    "14": {"epochs": 1, "batch_size": 32, "max_pairs_per_concept": 5, "max_steps": 20},
}

#: Chapters whose full profile takes a code path the lab profile does not (compare LAB and FULL in
#: course_utils/profiles.py and the notebooks' branches): rehearsed in full too. None of chapters 7-14 has one:
#: full differs from lab only in sizes (documents, epochs, max_length, dimensions, batch sizes, LoRA rank and
#: alpha, patience), which the override shrinks again, and in chapter 11's values (a fourth t-SNE perplexity,
#: 300, which the sweep drops for fewer than 902 mapped words; "coronavirus" instead of "influenza" as the
#: co-occurrence target); the notebooks branch only on smoke versus the rest.
FULL_PATH_DIFFERS: tuple[int, ...] = ()

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+")

pytestmark = [pytest.mark.lab_rehearsal, pytest.mark.timeout(900)]


def _snapshot(folder: Path) -> dict[str, int]:
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.rglob("*"):
        try:
            out[str(path.relative_to(folder))] = path.stat().st_mtime_ns if path.is_file() else 0
        except OSError:
            continue
    return out


#: Source folders people edit while a rehearsal runs; a new file there is theirs, not the notebook's. A notebook's
#: relative paths land in notebooks/ (its working folder) or at the top level, which are checked.
_AUTHORED = ("tests/", "course_utils/", "book/", "data_manifests/", "benchmarks/", "tools/", "requirements/")


def _repo_new_files() -> set[str]:
    """Untracked and ignored paths of the repository (ignored folders collapsed, source folders left out), to spot a
    file written into it."""
    def lines(*args: str) -> set[str]:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return set(done.stdout.splitlines()) if done.returncode == 0 else set()

    found = lines("ls-files", "--others", "--exclude-standard") | lines(
        "ls-files", "--others", "--ignored", "--exclude-standard", "--directory")
    return {p for p in found if not p.startswith(_AUTHORED)}


def _home_folders() -> list[Path]:
    # The caches a lab path would write to if it ignored the rehearsal's variables (the kernel's HOME is a temporary
    # folder too, so anything it writes under ~ lands there and is listed).
    home = Path.home()
    return [home / ".cache" / "huggingface", home / ".cache" / "biomed-ai-course", home / "nltk_data"]


@pytest.fixture(scope="session")
def rehearsal_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Build once per session (shared by pytest-xdist's workers): the manifests, the data folder with the datasets
    and the stand-ins."""
    from course_utils.cache import file_lock

    keep = os.environ.get("COURSE_REHEARSAL_DIR", "").strip()
    real_value = os.environ.get("COURSE_REAL_DATA", "").strip()
    real = Path(real_value) if real_value and Path(real_value).is_dir() else None
    if keep:
        base = Path(keep)
    else:  # pytest-xdist's workers share the parent of their temporary folders: build the data folder once
        shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else None
        base = (shared / f"lab_rehearsal_{'real' if real else 'fixtures'}") if shared else \
            tmp_path_factory.mktemp("lab_rehearsal")
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(base / ".build.lock"):
        return _build(base, real)


def _build(base: Path, real: Path | None) -> dict[str, object]:
    from rehearsal.datasets import build_data_dir, rehearsal_manifests
    from rehearsal.standins import build_standins, stage_standins

    data, manifests, scratch = base / "data", base / "manifests", base / "scratch"
    start = time.perf_counter()
    marker = data / ".rehearsal-complete"
    key = _build_key(real)
    recorded = json.loads(marker.read_text()) if marker.is_file() else None
    if not isinstance(recorded, dict) or recorded.get("key") != key:
        import shutil

        for folder in (data, manifests, scratch):
            shutil.rmtree(folder, ignore_errors=True)
        built = build_standins(scratch / "models")
        rehearsal_manifests(manifests, built)
        previous = os.environ.get("COURSE_MANIFEST_DIR")
        os.environ["COURSE_MANIFEST_DIR"] = str(manifests)
        try:
            staged = build_data_dir(data, scratch / "datasets", real=real)
            stage_standins(data, built, manifests)
        finally:
            if previous is None:
                os.environ.pop("COURSE_MANIFEST_DIR", None)
            else:
                os.environ["COURSE_MANIFEST_DIR"] = previous
        shutil.rmtree(scratch, ignore_errors=True)
        marker.write_text(json.dumps({"key": key, "staged": [vars(s) for s in staged]}, indent=2))
    staged_info = json.loads(marker.read_text())["staged"]
    print(f"\n[lab rehearsal] data folder {data} ready in {time.perf_counter() - start:.1f} s "
          f"({'real files from ' + str(real) if real else 'fixtures from the course generators'})")
    for item in staged_info:
        how = "staged, verified" if item["verified"] else "placed as fetch leaves it"
        print(f"  {item['name']:16s} {item['source']:18s} {how}{': ' + item['note'] if item['note'] else ''}")
    return {"base": base, "data": data, "manifests": manifests, "real": real, "staged": staged_info}


def _build_key(real: Path | None) -> str:
    """Return a digest of what the data folder is made from (builders, manifests, real folder): a kept folder
    (``COURSE_REHEARSAL_DIR``) is rebuilt when any of it changed."""
    import hashlib

    digest = hashlib.sha256(str(real).encode())
    for path in sorted([*(ROOT / "tests" / "rehearsal").glob("*.py"), *(ROOT / "data_manifests").glob("*.yaml")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


_CPU_CELL = ("import resource as _r\n"
             "print('REHEARSAL-CPU', sum(u.ru_utime + u.ru_stime for u in (_r.getrusage(_r.RUSAGE_SELF), "
             "_r.getrusage(_r.RUSAGE_CHILDREN))))")


def _cpu_seconds(nb: nbformat.NotebookNode) -> float | None:
    # the kernel may flush one print in several stream outputs (seen under load): read them joined
    text = "".join(output.get("text", "") for output in nb.cells[-1].get("outputs", []))
    if "REHEARSAL-CPU" in text:
        return round(float(text.split("REHEARSAL-CPU")[-1].split()[0]), 1)
    return None


def _failed_cell(nb: nbformat.NotebookNode) -> str:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                head = "\n".join(cell.source.splitlines()[:6])
                value = str(output.get("evalue", ""))[:1500]
                return _CJK.sub("…", f"cell {index} (tags {cell.metadata.get('tags', [])}):\n{head}\n"
                                     f"-> {output.get('ename')}: {value}")
    return "no cell recorded an error output"


def _claims(log: Path) -> list[dict[str, object]]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


_CLAIM_CALL = re.compile(r"\bclaim(?:_between|_close)?\(")


def _hidden_claim_calls(nb: nbformat.NotebookNode) -> int:
    return sum(len(_CLAIM_CALL.findall(c.source)) for c in nb.cells
               if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", []))


def rehearse(chapter: int, profile: str, data: dict[str, object], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> None:
    """Execute chapter ``chapter``'s notebook in ``profile`` with the rehearsal's data and environment; fail on a
    cell that raised, a claim that failed, or a file written outside the temporary folders."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = ROOT / NOTEBOOKS[chapter]
    keep = os.environ.get("COURSE_REHEARSAL_DIR", "").strip()
    run = (Path(keep) / f"ch{chapter:02d}-{profile}") if keep else tmp_path
    run.mkdir(parents=True, exist_ok=True)
    claims_log = run / "claims.jsonl"
    claims_log.unlink(missing_ok=True)
    (run / "progress.txt").unlink(missing_ok=True)
    home = run / "home"
    watched = {str(f): _snapshot(f) for f in _home_folders()}  # the real home, before HOME is moved
    env = {
        "HOME": str(home),
        "COURSE_PROFILE": profile,
        "COURSE_DATA_DIR": str(data["data"]),
        "COURSE_MANIFEST_DIR": str(data["manifests"]),
        "COURSE_WORK_DIR": str(run / "work"),
        # A field a chapter's settings lack is refused by the override itself (ProfileError in the set-up cell).
        "COURSE_SCHEDULE_OVERRIDE": json.dumps(SCHEDULE),
        "COURSE_CLAIMS_LOG": str(claims_log),
        "COURSE_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(home / "hf"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "COURSE_STATIC_FIGURES": "1",
        "MPLBACKEND": "Agg",
        "CUDA_VISIBLE_DEVICES": "",
        "COURSE_DEVICE": "cpu",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    for folder in ("hf", "cache", "matplotlib", "ipython", "jupyter-runtime"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("COURSE_REAL_DATA", "COURSE_BOOK_CACHE", "COURSE_MRI_DIR", "COURSE_DATA_READONLY"):
        monkeypatch.delenv(name, raising=False)

    home_before = _snapshot(home)
    repo_before = _repo_new_files()
    data_before = _snapshot(Path(str(data["data"])))
    nb = nbformat.read(path, as_version=4)
    # One cell appended to the copy in memory (never to the file): the kernel's CPU seconds, which unlike the wall
    # time hardly depend on what else the machine is running.
    nb.cells.append(nbformat.v4.new_code_cell(_CPU_CELL))
    start = time.perf_counter()
    error = None
    current = {"index": -1}

    progress = run / "progress.txt"  # which cell is running, for whoever watches a long rehearsal

    def on_cell_start(cell: nbformat.NotebookNode, cell_index: int, **_: object) -> None:
        current["index"] = cell_index
        with open(progress, "a", encoding="utf-8") as handle:
            handle.write(f"{time.perf_counter() - start:8.1f} s  cell {cell_index}\n")

    silent: list[int] = []  # hidden cells with claim calls that logged none (all of them behind a branch not taken)

    def on_cell_executed(cell: nbformat.NotebookNode, cell_index: int, **_: object) -> None:
        logged = len(_claims(claims_log))
        if _CLAIM_CALL.search(cell.source) and "remove-cell" in cell.metadata.get("tags", []) \
                and logged == current.get("logged", 0):
            silent.append(cell_index)
        current["logged"] = logged

    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=False, on_cell_start=on_cell_start,
                       on_cell_executed=on_cell_executed, resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError:
        error = _failed_cell(nb)
    except Exception as exc:  # the kernel died (memory, a crash) or a cell timed out: name the cell it was in
        index = current["index"]
        head = "\n".join(nb.cells[index].source.splitlines()[:6]) if index >= 0 else ""
        error = f"cell {index}:\n{head}\n-> {type(exc).__name__}: {str(exc)[:500]}"
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds(nb)
    error = _CJK.sub("…", error) if error else None
    claims = _claims(claims_log)
    outcome = {k: [c for c in claims if c["outcome"] == k] for k in ("held", "waived", "failed")}
    summary = {
        "chapter": chapter, "profile": profile, "seconds": round(seconds, 1), "cpu_seconds": cpu,
        "load": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else None,
        "held": len(outcome["held"]), "waived": [(c["statement"], c["at_scale"]) for c in outcome["waived"]],
        "failed": [c["statement"] for c in outcome["failed"]], "hidden_claim_calls": _hidden_claim_calls(nb),
        "hidden_claim_cells_without_a_claim": silent, "error": error,
    }
    if keep:  # both xdist workers may write it
        from course_utils.cache import file_lock

        report = Path(keep) / "summary.json"
        with file_lock(Path(keep) / ".summary.lock"):
            table = json.loads(report.read_text()) if report.is_file() else {}
            table[f"ch{chapter:02d}-{profile}"] = summary
            report.write_text(json.dumps(table, indent=2, ensure_ascii=False))
    lines = [f"[lab rehearsal] chapter {chapter} ({profile}): {seconds:.1f} s wall, {cpu} s kernel CPU, load "
             f"{summary['load']}; claims "
             f"{summary['held']} held, {len(summary['waived'])} waived, {len(summary['failed'])} failed "
             f"({summary['hidden_claim_calls']} claim calls in hidden cells)"]
    lines += [f"  waived: {s} -- {why}" for s, why in summary["waived"]]
    lines += [f"  FAILED claim: {s}" for s in summary["failed"]]
    if silent:
        lines.append(f"  hidden claim cells whose claims all sit behind a branch this profile does not take: {silent}")
    if error:
        lines.append(f"  ERROR in {error}")
    print("\n" + _CJK.sub("…", "\n".join(lines)))

    new_in_repo = sorted(_repo_new_files() - repo_before)
    changed_home = [f for f, before in watched.items() if set(_snapshot(Path(f))) - set(before)]
    redirected = {"hf", "cache", "matplotlib", "ipython", "jupyter-runtime"}  # each named by its own variable
    under_home = sorted({"/".join(Path(p).parts[:2]) for p in set(_snapshot(home)) - set(home_before)
                         if Path(p).parts[0] not in redirected})
    if under_home:
        print(f"  written under the kernel's temporary HOME (code that writes to ~ directly): {under_home[:12]}")
    data_changed = _snapshot(Path(str(data["data"]))) != data_before
    problems = []
    if error:
        problems.append(f"a cell raised: {error}")
    if summary["failed"]:
        problems.append(f"claims failed: {summary['failed']}")
    if new_in_repo:
        problems.append(f"files appeared in the repository: {new_in_repo[:10]}")
    if changed_home:
        problems.append(f"new files in {changed_home} (outside the temporary folders; if another process on this "
                        "machine wrote them, rerun)")
    if data_changed:
        problems.append(f"the data folder {data['data']} changed (the lab path must only read it)")
    if problems:  # pytest.fail, not assert: pytest would print the list itself, unelided
        pytest.fail(_CJK.sub("…", f"chapter {chapter} ({profile}) lab rehearsal:\n" + "\n".join(problems)),
                    pytrace=False)


def _chapter_class(chapter: int) -> type:
    profiles = ["lab"] + (["full"] if chapter in FULL_PATH_DIFFERS else [])

    @pytest.mark.parametrize("profile", profiles, ids=[f"ch{chapter:02d}" if p == "lab" else f"ch{chapter:02d}-full"
                                                       for p in profiles])
    def test_rehearsal(self, profile, rehearsal_data, tmp_path, monkeypatch):
        rehearse(chapter, profile, rehearsal_data, tmp_path, monkeypatch)

    # One class per chapter: pytest-xdist's loadscope schedules by class, so the chapters spread over the workers.
    return type(f"TestCh{chapter:02d}", (), {"test_rehearsal": test_rehearsal,
                                             "__doc__": f"Chapter {chapter}'s lab path ({NOTEBOOKS[chapter]})."})


for _chapter in NOTEBOOKS:
    globals()[f"TestCh{_chapter:02d}"] = _chapter_class(_chapter)
