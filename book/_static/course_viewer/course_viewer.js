/* The course's three-plane MRI viewer on the static site (chapters 1 and 6).
 *
 * Each <div class="course-niivue"> holds static slices (a PNG) written by course_utils.imaging.viewer. Where the
 * browser has WebGL 2, this script draws the same viewer as JupyterLab (the vendored NiiVue, _static/niivue/)
 * loading the small synthetic case shipped with the site (_static/course_viewer/*.nii.gz): the mouse wheel
 * scrolls the slices, sliders set the slice, window/level and the tumour overlay's opacity. Without WebGL the
 * static slices stay and the note says so. Nothing is fetched from outside the site.
 * data-viewer on the div says which path ran: "static" (no script yet), "webgl", "fallback" or "error".
 */
(function () {
  "use strict";

  function siteRoot() {
    const root = document.documentElement.dataset.content_root;
    if (root !== undefined) return root;
    const script = document.querySelector('script[src*="course_viewer.js"]');
    return script ? script.src.replace(/_static\/course_viewer\/course_viewer\.js.*$/, "") : "./";
  }

  function hasWebGL2() {
    try {
      return !!document.createElement("canvas").getContext("webgl2");
    } catch (error) {
      return false;
    }
  }

  function slider(label, min, max, step, value, onInput) {
    const wrap = document.createElement("label");
    wrap.className = "course-niivue-control";
    wrap.style.marginRight = "1.2em";
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: String(min), max: String(max), step: String(step), value: String(value) });
    input.setAttribute("aria-label", label);
    input.addEventListener("input", () => onInput(Number(input.value)));
    wrap.append(label + " ", input);
    return wrap;
  }

  async function start(box) {
    const note = box.querySelector(".course-niivue-note");
    const still = box.querySelector(".course-niivue-fallback");
    if (typeof niivue === "undefined" || !hasWebGL2()) {
      box.dataset.viewer = "fallback";
      note.textContent = "This browser has no WebGL 2, so the interactive viewer is replaced by static slices.";
      return;
    }
    const canvas = document.createElement("canvas");
    canvas.className = "course-niivue-canvas";
    canvas.height = 360;
    const holder = document.createElement("div");
    holder.className = "course-niivue-holder";
    holder.style.height = "360px";
    holder.append(canvas);
    box.insertBefore(holder, still);
    try {
      const nv = new niivue.Niivue({
        backColor: [0, 0, 0, 1], crosshairColor: [0.3, 0.8, 1, 0.7], crosshairWidth: 1, show3Dcrosshair: true, loadingText: "",
      });
      await nv.attachToCanvas(canvas);
      const base = siteRoot() + "_static/course_viewer/";
      await nv.loadVolumes([
        { url: base + "site_case_flair.nii.gz", colormap: "gray", cal_min: 0, cal_max: 255 },
        { url: base + "site_case_tumour.nii.gz", colormap: "red", opacity: 0.5, cal_min: 0, cal_max: 1 },
      ]);
      nv.setSliceType(nv.sliceTypeMultiplanar);
      const image = nv.volumes[0];
      const setWindow = (level, width) => {
        image.cal_min = level - width / 2;
        image.cal_max = level + width / 2;
        nv.updateGLVolume();
      };
      let level = 128;
      let width = 255;
      const controls = document.createElement("div");
      controls.className = "course-niivue-controls";
      controls.append(
        slider("axial slice", 0, 1, 0.01, 0.5, (v) => {
          const pos = nv.scene.crosshairPos;
          nv.scene.crosshairPos = [pos[0], pos[1], v];
          nv.drawScene();
        }),
        slider("window", 10, 255, 1, width, (v) => setWindow(level, (width = v))),
        slider("level", 0, 255, 1, level, (v) => setWindow((level = v), width)),
        slider("tumour opacity", 0, 1, 0.05, 0.5, (v) => nv.setOpacity(1, v)),
      );
      box.insertBefore(controls, holder);
      still.hidden = true;
      note.textContent = "The course's synthetic case (3 mm, shipped with this page): scroll or drag to move " +
        "through the slices, right-drag for window/level. In JupyterLab the viewer shows the chapter's own case.";
      box.niivue = nv;
      box.dataset.viewer = "webgl";
    } catch (error) {
      holder.remove();
      box.dataset.viewer = "error";
      note.textContent = "The interactive viewer could not start (" + error + "); static slices are shown instead.";
    }
  }

  function startAll() {
    document.querySelectorAll(".course-niivue").forEach(start);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else {
    startAll();
  }
})();
