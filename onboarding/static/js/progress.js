// Keeps the deploy's progress list current without reloads; the server renders the same
// list, so the page works (with a meta refresh) without this script.
(function () {
  "use strict";
  const list = document.getElementById("steps");
  if (!list) return;
  const job = list.dataset.job;
  const live = document.getElementById("live");
  let last = list.dataset.status;
  if (last === "failed") {
    const err = document.getElementById("error");
    if (err) err.focus();
    return;
  }
  if (last !== "running" && last !== "pending") return;

  function render(view) {
    for (const step of view.steps) {
      const item = list.querySelector(`[data-key="${step.key}"]`);
      if (!item) continue;
      item.className = `step ${step.status}`;
      item.dataset.status = step.status;
      item.querySelector(".state").textContent = `(${step.status})`;
      item.querySelector(".detail").textContent = step.detail;
      if (step.status === "running" && live) live.textContent = `${step.label}…`;
    }
  }

  async function poll() {
    let view;
    try {
      const res = await fetch(`/deploy/${job}/status`, { headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(String(res.status));
      view = await res.json();
    } catch (err) {
      if (live) live.textContent = "Lost touch with the service; trying again…";
      setTimeout(poll, 2000);
      return;
    }
    render(view);
    list.dataset.status = view.status;
    if (view.status === "running" || view.status === "pending") {
      setTimeout(poll, 1000);
    } else {
      window.location.reload(); // failed: the server renders what to do; done: next page
    }
  }
  setTimeout(poll, 500);
})();
