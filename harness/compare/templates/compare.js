// compare.html: a clicked trial opens the same scenario and trial index of every variant side by side.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("trial-data").textContent);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function seconds(ms) {
    return ms === null || ms === undefined ? "" : (ms / 1000).toFixed(2) + " s";
  }

  function column(scenario, variant, trial) {
    const t = data.trials[scenario + "|" + variant + "|" + trial];
    const col = el("div", "column");
    col.dataset.variant = variant;
    const head = el("h3", null, variant + (variant === data.baseline ? " (baseline)" : "") +
                    " · trial " + trial + " ");
    col.appendChild(head);
    if (!t) {
      head.appendChild(el("span", "outcome missing", "not run"));
      return col;
    }
    head.appendChild(el("span", "outcome " + t.outcome, t.outcome));
    if (t.error) col.appendChild(el("p", "note", t.error));
    if (t.audio) {
      const audio = el("audio");
      audio.controls = true;
      audio.preload = "metadata";
      audio.src = t.audio;
      col.appendChild(audio);
    }
    const values = Object.entries(t.values).map(([k, v]) => k + " " + v).join(" · ");
    if (values) col.appendChild(el("div", "values", values));
    col.appendChild(el("h4", null, "Transcript"));
    const transcript = el("div", "transcript");
    for (const e of t.transcript) {
      const row = el("div", "entry " + e.who);
      row.appendChild(el("span", "note", seconds(e.t_ms)));
      row.appendChild(el("span", "who", e.title));
      const body = el("span", null, e.text);
      for (const n of e.notes) body.appendChild(el("div", "note", n));
      row.appendChild(body);
      transcript.appendChild(row);
    }
    col.appendChild(transcript);
    col.appendChild(el("h4", null, "Verdicts"));
    const verdicts = el("div", "verdicts");
    for (const v of t.verdicts) {
      const box = el("div", "verdict " + v.status);
      box.appendChild(el("div", "head", "[" + v.status + "] " + v.kind));
      box.appendChild(el("div", null, v.summary));
      const list = el("ul");
      for (const ev of v.evidence) {
        const item = el("li", null, (ev.t_ms !== null ? seconds(ev.t_ms) + " " : "") + ev.label);
        if (ev.excerpt) item.appendChild(el("span", "excerpt", " “" + ev.excerpt + "”"));
        list.appendChild(item);
      }
      if (v.evidence.length) box.appendChild(list);
      verdicts.appendChild(box);
    }
    col.appendChild(verdicts);
    return col;
  }

  function openPair(scenario, trial) {
    const view = document.getElementById("pair-view");
    const columns = document.getElementById("pair-columns");
    for (const a of columns.querySelectorAll("audio")) a.pause();
    columns.replaceChildren(...data.variants.map((v) => column(scenario, v, trial)));
    document.getElementById("pair-title").textContent = scenario + " · trial " + trial;
    for (const b of document.querySelectorAll("button.trial.selected")) b.classList.remove("selected");
    for (const b of document.querySelectorAll("button.trial")) {
      if (b.dataset.scenario === scenario && b.dataset.trial === trial) b.classList.add("selected");
    }
    view.hidden = false;
    view.scrollIntoView({ block: "start" });
  }

  document.getElementById("matrix").addEventListener("click", (event) => {
    const button = event.target.closest("button.trial");
    if (button) openPair(button.dataset.scenario, button.dataset.trial);
  });
  document.getElementById("only-flipped").addEventListener("change", (event) => {
    for (const row of document.querySelectorAll("#matrix tbody tr")) {
      row.classList.toggle("hidden", event.target.checked && !row.classList.contains("flipped"));
    }
  });
  window.harnessCompare = { openPair };
})();
