// 叫应值班台: the little the pages need beyond HTML. Every page works without it; with it, the area
// picker searches as one types, the preview follows the form, and the call board updates itself.
"use strict";

(function () {
  function debounce(fn, ms) {
    let timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  function areaItem(region, checked) {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.name = "area_codes"; box.value = region.code; box.checked = checked;
    const place = document.createElement("span");
    place.className = "muted"; place.textContent = (region.place + " " + region.code).trim();
    label.append(box, " " + region.name + " ", place);
    li.append(label);
    return li;
  }

  // The warning form: search areas, keep the chosen ones, preview the fan-out.
  const form = document.getElementById("warning-form");
  if (form) {
    const q = document.getElementById("area-q");
    const results = document.getElementById("area-results");
    const chosen = document.getElementById("area-chosen");
    const none = document.getElementById("area-none");
    const preview = document.getElementById("preview");
    const previewed = document.getElementById("previewed");
    let asked = 0;

    const refreshPreview = debounce(function () {
      const params = new URLSearchParams();
      const level = form.querySelector("input[name=level]:checked");
      if (level) params.set("level", level.value);
      if (form.querySelector("input[name=exercise]:checked")) params.set("exercise", "1");
      chosen.querySelectorAll("input[name=area_codes]:checked").forEach(function (box) { params.append("area_codes", box.value); });
      document.getElementById("area_text").value.split(/[\s,，、;；]+/).filter(Boolean).forEach(function (code) { params.append("area_codes", code); });
      const mine = ++asked;
      fetch("/console/warnings/preview?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          if (mine !== asked) return;
          preview.innerHTML = html;
          const body = preview.querySelector("[data-digest]");
          previewed.value = body ? body.getAttribute("data-digest") : "";
        })
        .catch(function () { /* the form still previews on submit */ });
    }, 300);

    function changed() { previewed.value = ""; refreshPreview(); }

    function choose(box) {
      const li = box.closest("li");
      if (box.checked && li.parentNode === results) chosen.append(li);
      none.hidden = chosen.querySelector("input:checked") !== null;
      changed();
    }

    const search = debounce(function () {
      const text = q.value.trim();
      if (!text) { results.replaceChildren(); return; }
      fetch("/console/regions?q=" + encodeURIComponent(text), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (data) {
          const taken = new Set(Array.from(chosen.querySelectorAll("input:checked")).map(function (box) { return box.value; }));
          const items = data.items.filter(function (region) { return !taken.has(region.code); });
          if (!items.length) {
            const li = document.createElement("li"); li.className = "muted"; li.textContent = "没有找到匹配的区域。";
            results.replaceChildren(li);
            return;
          }
          results.replaceChildren.apply(results, items.map(function (region) { return areaItem(region, false); }));
        })
        .catch(function () { /* the 查找 button still searches by posting the form */ });
    }, 250);

    q.addEventListener("input", search);
    q.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); search(); } });
    document.getElementById("area-search").addEventListener("click", function (event) { event.preventDefault(); search(); });
    form.addEventListener("change", function (event) {
      const target = event.target;
      if (target.name === "area_codes") choose(target);
      else if (target.name === "level" || target.name === "exercise") changed();
    });
    document.getElementById("area_text").addEventListener("input", changed);
    if (!previewed.value) refreshPreview();
  }

  // The call board: cells change colour and the numbers move as answers come in.
  const board = document.getElementById("board");
  if (board && window.EventSource && board.dataset.stream) {
    const STATES = ["reached", "waiting", "escalated", "uncovered", "unreachable"];
    const STATE_NAMES = { reached: "已叫应", waiting: "等待应答", escalated: "已上报上级", uncovered: "无责任人", unreachable: "无法叫应" };
    const SILENT = ["pending", "notified", "unanswered"];
    const indicator = document.getElementById("live-state");
    const source = new EventSource(board.dataset.stream);
    let first = true;  // the first message is the board as it stands
    source.onopen = function () { indicator.textContent = "● 实时更新中"; };
    source.onerror = function () {
      indicator.textContent = source.readyState === EventSource.CLOSED ? "实时更新已停止，请刷新页面" : "连接中断，正在重连…";
    };
    source.addEventListener("regions", function (event) {
      const changed = JSON.parse(event.data);
      Object.keys(changed).forEach(function (code) {
        const cell = document.getElementById("r-" + code);
        if (!cell) return;
        cell.classList.remove.apply(cell.classList, STATES);
        cell.classList.add(changed[code]);
        cell.title = cell.dataset.name + " · " + STATE_NAMES[changed[code]];
        if (!first) {  // the cells that just changed stand out for a few seconds
          cell.classList.add("fresh");
          setTimeout(function () { cell.classList.remove("fresh"); }, 4000);
        }
      });
      first = false;
    });
    source.addEventListener("summary", function (event) {
      const counts = JSON.parse(event.data);
      document.querySelectorAll("[data-live]").forEach(function (element) {
        const value = counts[element.dataset.live];
        if (value !== undefined) element.textContent = value;
      });
      if (!counts.open) { source.close(); indicator.textContent = "预警已结束"; }
    });
    source.addEventListener("calls", function (event) {
      const calls = JSON.parse(event.data);
      Object.keys(calls).forEach(function (id) {
        const row = document.getElementById("c-" + id);
        if (!row) return;
        const call = calls[id];
        row.querySelector(".call-status").textContent = call.label;
        row.querySelector(".attempts").textContent = call.attempts;
        if (SILENT.indexOf(call.status) < 0) {  // answered, or closed with the warning
          row.classList.add("answered");
          const action = row.querySelector("form");
          if (action) action.remove();
        }
      });
    });
  }

  // Forms that ask before they act (ending a warning tells everyone already called).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
