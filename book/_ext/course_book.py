"""Sphinx extension of the course book: offline assets and build-time settings.

* Copies MathJax 3 (from the pinned ``django-static-mathjax`` wheel, which only ships MathJax's files)
  into the built site's ``_static/mathjax`` so pages with maths work with no internet.
* Sets ``COURSE_STATIC_FIGURES=1`` before notebooks execute, so interactive widgets fall back to static
  figures and progress bars print text (a static page cannot run a widget).
* Drops sphinx-thebe's assets (unused: chapters launch on JupyterHub; thebe's loader points at a CDN).
* Resolves the inline ``{eval}`` role from the values a notebook glued (``myst_nb.glue``), so one role
  works in both places: JupyterLab (jupyterlab-myst evaluates it in the live kernel) and the book (where
  notebooks are executed through jupyter-cache, and myst-nb's own ``{eval}`` would need inline execution).
* Renders the ``{course-datasets}`` directive: the table of every dataset and model, generated from
  ``data_manifests/`` at build time so the Data page never drifts from the manifests.
* Ships the three-plane MRI viewer (chapters 1 and 6): checks the vendored NiiVue bundle against the sha256 pinned
  in ``course_utils.imaging.viewer.NIIVUE`` (a mismatch stops the build), copies it, its licence, the loader and the
  small synthetic case into ``_static``, and adds the scripts only to pages that hold a viewer.
* Shows no path of the machine that built the site: executed outputs that print a folder (the set-up report,
  a command line) show it relative to the course (``<course>/...``) or home (``~/...``).
* Shows a launch button only when a JupyterHub is named (``COURSE_HUB_URL`` when building, or ``_config.yml``);
  ``COURSE_REPO_URL`` overrides the repository nbgitpuller pulls from.
"""

from __future__ import annotations

import ast
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst.states import Inliner
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)
_NUMPY_SCALAR = re.compile(r"^np\.\w+\((.*)\)$")
_SAFE_BUILTINS = {"round": round, "int": int, "float": float, "abs": abs, "len": len, "min": min, "max": max,
                  "str": str, "math": math}

os.environ.setdefault("COURSE_STATIC_FIGURES", "1")


def _mathjax_source() -> Path:
    try:
        import mathjax  # the django-static-mathjax wheel's package; nothing of django is imported
    except ImportError as exc:
        raise ExtensionError(
            "MathJax files are missing: install the pinned requirements (`make book` does) or "
            "`pip install --no-deps django-static-mathjax==3.2.2.1`."
        ) from exc
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def launch_hub_url(env_value: str, configured: str) -> str:
    """Return the JupyterHub the launch button opens: ``COURSE_HUB_URL``, else ``_config.yml``'s, else "" (no button).

    A placeholder address (``example.org``/``.com``/``.net``) counts as none: a button must never point at a hub
    that does not exist.
    """
    for value in (env_value.strip(), configured.strip()):
        if value and not re.search(r"(^|[/.])example\.(org|com|net)\b", value):
            return value
    return ""


def _on_config(app: Sphinx, config: Any) -> None:
    theme = dict(config.html_theme_options or {})
    launch = dict(theme.get("launch_buttons", {}))
    launch["jupyterhub_url"] = launch_hub_url(os.environ.get("COURSE_HUB_URL", ""), str(launch.get("jupyterhub_url") or ""))
    theme["launch_buttons"] = launch
    repo = os.environ.get("COURSE_REPO_URL")
    if repo:
        theme["repository_url"] = repo
    url = str(theme.get("repository_url", ""))
    if url and not any(host in url for host in ("github.com", "gitlab.com", "bitbucket.org")):
        # A self-hosted git server (the usual case for a university hub): nbgitpuller only needs the URL.
        theme.setdefault("repository_provider", "gitlab")
    config.html_theme_options = theme
    # pydata-sphinx-theme logs a console error on a first visit unless a default colour mode is set.
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def _drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Remove sphinx-thebe's assets: the course launches notebooks on JupyterHub, never in the page, and
    thebe's loader (declared twice by jupyter-book 1.0, a console error) points at a CDN."""
    for key in ("script_files", "css_files"):
        files = context.get(key)
        if not files:
            continue
        context[key] = [
            f for f in files
            if "thebe" not in str(f).lower() and "THEBE" not in str(getattr(f, "attributes", {}).get("body", ""))
        ]


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "tex-chtml.js", target / "tex-chtml.js")
    fonts = source / "output" / "chtml" / "fonts" / "woff-v2"
    shutil.copytree(fonts, target / "output" / "chtml" / "fonts" / "woff-v2", dirs_exist_ok=True)


def _viewer_files(root: Path) -> list[tuple[Path, str]]:
    """Return ``(source, target under _static)`` for every file the site's viewer needs, the bundle checked first."""
    import dataclasses

    from course_utils.imaging.viewer import NIIVUE, SITE_CASE_FILES, ViewerError, check_vendored

    try:
        bundle = check_vendored(dataclasses.replace(NIIVUE, path=root / "book" / "_static" / "niivue" / "niivue.umd.js"))
    except ViewerError as exc:
        raise ExtensionError(f"the vendored viewer failed its check: {exc}") from exc
    own = bundle.parents[1] / "course_viewer"
    files = [(bundle, "niivue/niivue.umd.js"), (bundle.parent / "LICENSE", "niivue/LICENSE"),
             (own / "course_viewer.js", "course_viewer/course_viewer.js")]
    files += [(own / name, f"course_viewer/{name}") for name in SITE_CASE_FILES]
    missing = [str(source) for source, _ in files if not source.is_file()]
    if missing:
        raise ExtensionError(f"the site's viewer misses {', '.join(missing)}: restore them from git "
                             "(the case: `python -c 'from course_utils.imaging.viewer import write_site_case; "
                             "write_site_case()'`).")
    return files


def _copy_viewer(app: Sphinx) -> None:
    """Copy the viewer's files before pages are written (Sphinx stamps each script's checksum into the page)."""
    if app.builder.format != "html":
        return
    for source, target in _viewer_files(Path(app.srcdir)):
        path = Path(app.outdir) / "_static" / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, path)


def _add_viewer_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Load NiiVue (2.2 MB) only on the pages that hold a viewer."""
    if 'class="course-niivue"' in str(context.get("body", "")):
        app.add_js_file("niivue/niivue.umd.js")
        app.add_js_file("course_viewer/course_viewer.js")


def machine_paths(srcdir: Path) -> list[tuple[str, str]]:
    """Return ``(absolute path, what the site shows instead)``, longest first: the folders of the building machine.

    The course's folder becomes ``<course>``, the real-data folders their variable's name, home ``~``.
    """
    found: dict[str, str] = {}
    for name in ("COURSE_REAL_DATA", "COURSE_MRI_DIR", "COURSE_DATA_DIR", "COURSE_WORK_DIR"):
        value = os.environ.get(name, "").strip()
        if value and len(Path(value).resolve().parts) > 2:
            found.setdefault(str(Path(value).resolve()), f"${name}")
    for path, shown in ((Path(srcdir).resolve(), "<course>"), (Path.home().resolve(), "~")):
        if len(path.parts) > 1:  # never rewrite "/" itself
            found.setdefault(str(path), shown)
    for path in list(found):  # the same folder reached through a symbolic link
        found.setdefault(os.path.realpath(path), found[path])
    return sorted(found.items(), key=lambda item: -len(item[0]))


def _without_machine_paths(text: str, paths: list[tuple[str, str]]) -> str:
    for path, shown in paths:
        if path in text:
            text = re.sub(re.escape(path) + r"(?=[/\\\s'\"`),:;\]]|$)", shown, text)
    return text


def _hide_machine_paths(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Rewrite the building machine's folders in every text of the page (outputs included) before it is written."""
    paths = machine_paths(Path(app.srcdir))
    for node in list(doctree.findall(nodes.Text)):
        text = str(node)
        new = _without_machine_paths(text, paths)
        if new != text:
            node.parent.replace(node, nodes.Text(new))


def _glued_values(document: nodes.document) -> dict[str, Any]:
    renderer = document.get("nb_renderer")
    if renderer is None:
        return {}
    values: dict[str, Any] = {}
    for key, record in renderer.renderer.nb_client.glue_data.items():
        text = str(record.get("data", {}).get("text/plain", "")).strip()
        match = _NUMPY_SCALAR.match(text)
        try:
            values[key] = ast.literal_eval(match.group(1) if match else text)
        except (ValueError, SyntaxError):
            continue
    return values


def eval_role(name: str, rawtext: str, text: str, lineno: int, inliner: Inliner,
              options: dict[str, Any] | None = None, content: list[str] | None = None) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """``{eval}`expression```: evaluate ``expression`` over the notebook's glued values."""
    document = inliner.document
    try:
        value = eval(text, {"__builtins__": _SAFE_BUILTINS}, _glued_values(document))  # noqa: S307
    except Exception as exc:  # a broken expression must fail a -W build with a clear message
        message = inliner.reporter.warning(
            f"{{eval}}`{text}` cannot be resolved from the notebook's glued values: {type(exc).__name__}: {exc}. "
            "Glue every name it uses with myst_nb.glue(name, value, display=False).", line=lineno)
        return [], [message]
    return [nodes.inline(rawtext, str(value), classes=["course-eval"])], []


def _human_size(n: int | None) -> str:
    if n is None:
        return "unknown until first download"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(n)


class DatasetsDirective(SphinxDirective):
    """``{course-datasets}``: a table of all manifests (dataset, licence, size, citation, chapters, command)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from course_utils.data import list_manifests, load_manifest

        root = Path(self.env.srcdir) / "data_manifests"
        for path in sorted(root.glob("*.yaml")):
            self.env.note_dependency(str(path))
        names = list_manifests(root)
        if not names:
            return [nodes.paragraph(text="No data manifests yet.")]
        manifests = [load_manifest(name, root) for name in names]
        lines: list[str] = []
        for kind, heading in (("dataset", "Datasets"), ("model", "Pretrained models")):
            lines += [f"**{heading}**", "",
                      "| name | licence | size | cite | chapters | how to get it |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for m in (m for m in manifests if m.kind == kind):
                chapters = ", ".join(str(c) for c in m.chapters)
                title = f"[{m.title}]({m.homepage})" if m.homepage.startswith("http") else m.title
                if m.status == "manual":
                    command = f"by hand (steps below), then `python -m course_utils.data verify {m.name}`"
                elif m.derived_from:
                    command = f"`{m.conversion}`"
                else:
                    command = f"`python -m course_utils.data fetch {m.name}`"
                if not m.files:
                    size = "n/a"
                elif m.total_size is None:
                    size = "not published*"
                else:
                    size = _human_size(m.total_size)
                revision = f", revision `{m.revision[:10]}`" if m.revision else ""
                lines.append(f"| `{m.name}`: {title}{revision} | {m.licence} | {size} | {{cite:p}}`{m.citation}` | "
                             f"{chapters} | {command} |")
            lines.append("")
        lines += ["\\* No size or checksum is published for these files: the first download records both in "
                  "`$COURSE_DATA_DIR/checksums.lock`, and every later fetch is held to them.", ""]
        for m in (m for m in manifests if m.status == "manual"):
            lines += [f"**{m.title}** (`{m.name}`) is placed by hand:", ""]
            lines += [f"{i}. {step}" for i, step in enumerate(m.manual_steps, 1)]
            lines.append("")
        container = nodes.container(classes=["course-datasets"])
        self.state.nested_parse(StringList(lines, source="data_manifests"), self.content_offset, container)
        return [container]


def _register_eval(app: Sphinx) -> None:
    app.add_role("eval", eval_role, override=True)


def setup(app: Sphinx) -> dict[str, Any]:
    _mathjax_source()  # fail early with a clear message
    _viewer_files(Path(app.srcdir))  # the vendored NiiVue's sha256, before anything is executed
    app.connect("config-inited", _on_config)
    app.connect("builder-inited", _register_eval)
    app.add_directive("course-datasets", DatasetsDirective)
    app.connect("build-finished", _copy_mathjax)
    app.connect("builder-inited", _copy_viewer)
    app.connect("html-page-context", _add_viewer_scripts)
    app.connect("doctree-resolved", _hide_machine_paths)
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
