// Draws the report's plotly figures and ties the call audio, the timeline cursor and the
// evidence links together: audio time t plays session time (audio offset + t).
(function () {
  "use strict";
  var config = { displaylogo: false, responsive: true,
                 modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };

  function figure(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  document.querySelectorAll(".plot[data-figure]").forEach(function (el) {
    var fig = figure(el.dataset.figure);
    Plotly.newPlot(el, fig.data, fig.layout, config);
  });

  // Trend charts: every point carries its run's report as customdata; a click opens it.
  document.querySelectorAll(".plot[data-links]").forEach(function (el) {
    el.on("plotly_click", function (ev) {
      var link = ev.points && ev.points[0] && ev.points[0].customdata;
      if (typeof link === "string" && link) { window.location.href = link; }
    });
  });

  var filter = document.getElementById("trial-filter");
  if (filter) {
    filter.addEventListener("change", function () {
      var keep = filter.value ? filter.value.split(" ") : null;
      document.querySelectorAll("#trials tbody tr").forEach(function (row) {
        var shown = !keep || keep.some(function (c) { return row.classList.contains(c); });
        row.classList.toggle("hidden", !shown);
      });
    });
  }

  var timeline = document.getElementById("timeline");
  if (!timeline) { return; }
  var audio = document.getElementById("call-audio");
  var offset = parseFloat(document.body.dataset.audioOffset || "0");
  var cursorAt = 0;

  function setCursor(t) {
    if (Math.abs(t - cursorAt) < 0.04) { return; }
    cursorAt = t;
    Plotly.relayout(timeline, { "shapes[0].x0": t, "shapes[0].x1": t });
  }

  function flashVerdict(index) {
    var el = document.getElementById("verdict-" + index);
    if (!el) { return; }
    el.scrollIntoView({ block: "center", behavior: "smooth" });
    el.classList.add("flash");
    setTimeout(function () { el.classList.remove("flash"); }, 1200);
  }

  function seek(t) {
    if (audio) { audio.currentTime = Math.max(0, t - offset); }
    setCursor(t);
  }

  if (audio) {
    var following = false;
    var follow = function () {
      setCursor(offset + audio.currentTime);
      if (following) { window.requestAnimationFrame(follow); }
    };
    audio.addEventListener("play", function () { following = true; follow(); });
    audio.addEventListener("pause", function () { following = false; });
    audio.addEventListener("ended", function () { following = false; });
    audio.addEventListener("seeked", function () { setCursor(offset + audio.currentTime); });
  }

  timeline.on("plotly_click", function (ev) {
    var cd = ev.points.length ? ev.points[0].customdata : null;
    if (!cd) { return; }
    seek(cd[0]);
    if (cd[1] >= 0) { flashVerdict(cd[1]); }
  });

  document.querySelectorAll("[data-seek]").forEach(function (button) {
    button.addEventListener("click", function () {
      seek(parseFloat(button.dataset.seek));
      timeline.scrollIntoView({ block: "nearest", behavior: "smooth" });
    });
  });

  window.harnessReport = { seek: seek, cursor: function () { return cursorAt; }, offset: offset };
})();
