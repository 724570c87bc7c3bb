// The side panels (conversations, settings): always shown on a wide screen, drawers opened
// from the top bar on a narrow one. An open drawer is modal: it takes the focus, the rest of
// the page is inert behind a backdrop (a tap on it closes the drawer), and closing gives the
// focus back to the drawer's toggle.

const $ = (id) => document.getElementById(id);

function toggleFor(id) {
  return document.querySelector(`.panel-toggle[aria-controls="${id}"]`);
}

function isDrawer(panel) {
  return getComputedStyle(toggleFor(panel.id)).display !== "none";
}

/** Makes everything but `panel` inert (or, with null, nothing). */
function setModal(panel) {
  for (const part of document.querySelectorAll(".topbar, #chat, .panel")) {
    part.inert = panel !== null && part !== panel;
  }
  $("backdrop").hidden = panel === null;
}

/** Opens panel `id` (a no-op on a wide screen, where it is always shown). */
export function openPanel(id) {
  closePanels(false);
  const panel = $(id);
  panel.classList.add("open");
  toggleFor(id).setAttribute("aria-expanded", "true");
  if (isDrawer(panel)) {
    setModal(panel);
    panel.querySelector(".panel-close").focus();
  }
}

/** Closes the open drawer; `refocus` gives the focus back to its toggle. */
export function closePanels(refocus = true) {
  setModal(null);
  for (const panel of document.querySelectorAll(".panel.open")) {
    panel.classList.remove("open");
    toggleFor(panel.id).setAttribute("aria-expanded", "false");
    if (refocus && isDrawer(panel)) toggleFor(panel.id).focus();
  }
}

export function bindPanels() {
  $("backdrop").addEventListener("click", () => closePanels());
  // a drawer left open while the screen widens (a phone turned) must not keep the page inert
  matchMedia("(max-width: 900px)").addEventListener("change", () => closePanels(false));
  for (const close of document.querySelectorAll(".panel-close")) {
    close.addEventListener("click", () => closePanels());
  }
  for (const toggle of document.querySelectorAll(".panel-toggle")) {
    toggle.addEventListener("click", () => {
      const id = toggle.getAttribute("aria-controls");
      if ($(id).classList.contains("open")) closePanels();
      else openPanel(id);
    });
  }
}
