#!/usr/bin/env bash
# The course's set-up, build and test commands (called by the Makefile; README documents them).
#
#   tools/course.sh setup   create or reuse the project-local virtual environment (.venv)
#   tools/course.sh book    set up, then build the book (notebooks executed, clean Sphinx build, -W)
#   tools/course.sh test    set up, build the book, then run every test (unit, nbval, real data, browser)
#   tools/course.sh lab     set up, then start JupyterLab on the course
#   tools/course.sh student set up, then write the student edition of every notebook (solutions removed,
#                           checkers kept, outputs cleared) into _build/student (COURSE_STUDENT_DIR to change)
#
# Environment:
#   COURSE_TORCH=cpu       (default) install torch==2.13.0 (CPU) and the fully pinned stack with --no-deps
#   COURSE_TORCH=existing  keep the torch already installed for COURSE_PYTHON (a lab's CUDA build): the venv
#                          sees it through --system-site-packages; it is never replaced; timm and
#                          torchvision are never added
#   COURSE_PYTHON          interpreter for the venv (default: the first of python3.11, python3.12, python3
#                          that runs)
#   COURSE_VENV            venv folder (default: .venv in the repository)
#   COURSE_PROFILE         smoke | lab | full (default: lab with a GPU and data, else smoke)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${COURSE_VENV:-$ROOT/.venv}"
MODE="${COURSE_TORCH:-cpu}"
REQ="$ROOT/requirements/cpu.txt"
TORCH_CPU="torch==2.13.0"

log() { printf '\033[1m[course]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[course] error:\033[0m %s\n' "$*" >&2; exit 1; }

pick_python() {
  if [[ -n "${COURSE_PYTHON:-}" ]]; then echo "$COURSE_PYTHON"; return; fi
  for candidate in python3.11 python3.12 python3; do
    # A pyenv shim exists for every installed version but runs only the active ones: try it.
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'pass' >/dev/null 2>&1; then
      echo "$candidate"; return
    fi
  done
  die "no python3 found; install Python 3.11 or 3.12, or set COURSE_PYTHON=/path/to/python"
}

SETUP_VERSION=2  # bump when setup() changes what it installs

stamp_value() {
  # Everything that decides the venv's contents: a change rebuilds it.
  cat "$REQ" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16
  echo "$MODE $SETUP_VERSION ${COURSE_PYTHON:-}"
}

pip_install() {
  # pip's output, minus this machine's notes about absent local mirrors; the whole log when it fails.
  local log
  log="$(mktemp)"
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v "WARNING: Location" "$log" >&2 || true
    rm -f "$log"
    die "pip install $* failed (output above); rerun the same command when the cause is fixed"
  fi
  grep -v -e "WARNING: Location" -e '^[[:space:]]*$' "$log" >&2 || true
  rm -f "$log"
}

setup() {
  local py stamp want
  want="$(stamp_value)"
  stamp="$VENV/.course-stamp"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "reusing $VENV"
    phase "set-up" 0
    return
  fi
  py="$(pick_python)"
  "$py" -c 'pass' >/dev/null 2>&1 \
    || die "$py cannot be run (not installed, or a pyenv shim for a version that is not active); set COURSE_PYTHON=/path/to/python3.11"
  "$py" -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), sys.version' 2>/dev/null \
    || die "$py is Python $("$py" -c 'import sys; print(sys.version.split()[0])'); the course needs 3.11 or 3.12 (set COURSE_PYTHON)"
  local t0=$SECONDS
  # Built in place; the stamp is written last, so an interrupted build is never reused (it is rebuilt).
  rm -rf "$VENV"
  case "$MODE" in
    cpu)
      log "creating $VENV with $py (CPU torch, pinned stack)"
      "$py" -m venv "$VENV"
      pip_install --upgrade pip
      pip_install "$TORCH_CPU"
      ;;
    existing)
      local have parents site
      have="$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null)" \
        || die "COURSE_TORCH=existing but $py cannot import torch; install your lab's torch first, or use COURSE_TORCH=cpu"
      log "creating $VENV on top of $py, keeping its torch $have"
      "$py" -m venv "$VENV"
      # The venv sees the interpreter's own packages (its torch, CUDA libraries) after its own: a .pth file
      # works whether that interpreter is a system, conda or venv Python (--system-site-packages does not
      # reach a parent venv's packages).
      parents="$("$py" -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))')"
      site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
      printf '%s\n' "$parents" > "$site/_course_parent_site_packages.pth"
      pip_install --upgrade pip
      ;;
    *) die "COURSE_TORCH must be 'cpu' or 'existing', not '$MODE'" ;;
  esac
  local before
  before="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("torch"))')"
  # --no-deps: the pin list is the whole closure, minus timm and torchvision (see requirements/cpu.txt),
  # so nothing can pull another torch.
  grep -v -E '^(torch|timm|torchvision)==' "$REQ" > "$VENV/course-pins.txt"
  pip_install --no-deps -r "$VENV/course-pins.txt"
  pip_install --no-deps -e "$ROOT"
  local after
  after="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("torch"))')"
  [[ "$before" == "$after" ]] || die "torch changed from $before to $after during the install; please report this"
  "$VENV/bin/python" - <<'PY'
import importlib
for name in ("course_utils", "torch", "SimpleITK", "nibabel", "nilearn", "nnunetv2", "jupyter_book", "nbval", "myst_nb"):
    importlib.import_module(name)
PY
  # JupyterLab for students: no news pop-up (and no request to the internet for it).
  mkdir -p "$VENV/share/jupyter/lab/settings"
  echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
    > "$VENV/share/jupyter/lab/settings/overrides.json"
  stamp_value > "$stamp"
  log "environment ready in $((SECONDS - t0)) s"
  phase "set-up" $((SECONDS - t0))
}

build_book() {
  local profile cache="_build/.jupyter_cache"
  profile="$("$VENV/bin/python" -c 'from course_utils.profiles import resolve_profile; print(resolve_profile(("msd_task01",)).profile.value)')"
  log "building the book in the '$profile' profile"
  # jupyter-cache keys on the notebooks' code only: the cache is also dropped when the profile or the package
  # changes, so a smoke cache never feeds a lab build and the book always shows what the current code does.
  local key
  key="$profile $(find course_utils -name '*.py' -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
  if [[ -d "$cache" && "$(cat "$cache/PROFILE" 2>/dev/null)" != "$key" ]]; then rm -rf "$cache"; fi
  # A clean Sphinx build every time (an incremental one hides failed notebooks); the cache is kept.
  rm -rf _build/html _build/.doctrees _build/jupyter_execute
  local t0=$SECONDS
  # The book and the tests share one work folder, so nnU-Net's converted data and the trained smoke model are
  # made once (steps are locked and idempotent) and reused by both.
  # Jupyter Book executes notebooks one at a time; tools/execute_notebooks.py first runs them COURSE_BOOK_JOBS at a
  # time (default 2, one thread each) into the same jupyter-cache, so the build then executes none. Set
  # COURSE_BOOK_JOBS=0 to let the build execute them itself.
  if [[ "${COURSE_BOOK_JOBS:-2}" != 0 ]]; then
    COURSE_WORK_DIR="${COURSE_WORK_DIR:-$ROOT/_build/work}" COURSE_PROFILE="$profile" COURSE_STATIC_FIGURES=1 \
      "$VENV/bin/python" "$ROOT/tools/execute_notebooks.py" --cache "$cache" --jobs "${COURSE_BOOK_JOBS:-2}" \
      || die "a notebook raised while executing (its error is above); fix it and rerun"
    phase "notebooks" $((SECONDS - t0))
  fi
  COURSE_WORK_DIR="${COURSE_WORK_DIR:-$ROOT/_build/work}" COURSE_PROFILE="$profile" COURSE_STATIC_FIGURES=1 \
    "$VENV/bin/jupyter-book" build "$ROOT" -W -n --keep-going
  mkdir -p "$cache" && echo "$key" > "$cache/PROFILE"
  log "book built in $((SECONDS - t0)) s: $ROOT/_build/html/index.html"
  phase "book build" $((SECONDS - t0))
  notebook_times "$cache"
}

notebook_times() {
  # Each notebook's execution time as recorded by jupyter-cache (0 = reused from the cache, not executed now).
  "$VENV/bin/python" - "$1" <<'PY' >&2 || true
import sys
from pathlib import Path
import nbformat
from jupyter_cache import get_cache
cache = get_cache(sys.argv[1])
for path in sorted(Path("notebooks").rglob("*.ipynb")):
    if ".ipynb_checkpoints" in path.parts:
        continue
    try:
        seconds = cache.match_cache_notebook(nbformat.read(path, as_version=4)).data.get("execution_seconds")
        print(f"[course]   {path.as_posix():60s} {seconds:7.1f} s")
    except KeyError:
        print(f"[course]   {path.as_posix():60s} not executed")
PY
}

phase() {
  # Phase times for .ci/run's summary (COURSE_PHASE_LOG names the file).
  log "phase '$1' took $2 s"
  if [[ -n "${COURSE_PHASE_LOG:-}" ]]; then printf '%-12s %6s s\n' "$1" "$2" >> "$COURSE_PHASE_LOG"; fi
}

need_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then return; fi
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian chromium and chromium-driver for the browser test"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  elif [[ -n "${CI:-}" ]]; then
    die "CI needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)"
  else
    log "no chromium/chromedriver and no root: the browser test will be skipped"
  fi
}

run_tests() {
  need_browser
  build_book
  local real="${COURSE_REAL_DATA:-}"
  if [[ -z "$real" && -d "$ROOT/../shared/data" ]]; then real="$ROOT/../shared/data"; fi
  log "running the tests${real:+ (real data: $real)}"
  local t0=$SECONDS status=0
  # The book build above executed every notebook once; COURSE_BOOK_CACHE tells the tests where its record is,
  # so nbval re-runs only Part I (a second layout) and tests/test_notebooks_executed.py checks the rest.
  # pytest runs two workers (pyproject's addopts): one BLAS/OpenMP thread each, or four threads fight over two
  # cores and torch slows down many times over.
  # The same run holds the lab-path rehearsal of chapters 7-14 (marker lab_rehearsal, tests/test_lab_rehearsal.py):
  # each notebook in COURSE_PROFILE=lab on the CPU with the real files of COURSE_REAL_DATA (or generated fixtures)
  # and stand-in models, one chapter per test so both workers share it. It sets its own profile and variables.
  COURSE_WORK_DIR="${COURSE_WORK_DIR:-$ROOT/_build/work}" COURSE_REAL_DATA="$real" COURSE_PROFILE=smoke \
    COURSE_BOOK_CACHE="$ROOT/_build/.jupyter_cache" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
    MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}" "$VENV/bin/python" -m pytest "$@" || status=$?
  phase "pytest" $((SECONDS - t0))
  return $status
}

cmd="${1:-}"; shift || true
case "$cmd" in
  setup) setup ;;
  book) setup; build_book ;;
  test) setup; run_tests "$@" ;;
  lab) setup; exec "$VENV/bin/jupyter" lab --notebook-dir="$ROOT" "$@" ;;
  student)
    setup
    out="${COURSE_STUDENT_DIR:-$ROOT/_build/student}"
    "$VENV/bin/python" "$ROOT/tools/student_edition.py" write --out "$out" "$@"
    "$VENV/bin/python" "$ROOT/tools/student_edition.py" check "$out"
    ;;
  *) echo "usage: tools/course.sh {setup|book|test|lab|student}" >&2; exit 2 ;;
esac
