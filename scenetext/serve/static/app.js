// The scenetext page: send dropped, pasted or chosen images to /v1/recognize and show what was read.
"use strict";

const state = { maxImages: 32, maxBytes: 20 * 1024 * 1024 };

const $ = (selector) => document.querySelector(selector);

function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) ? 1 : 0)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

function formatCount(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}K`;
  return String(n);
}

function chip(label, value) {
  const el = document.createElement("span");
  el.className = "chip";
  el.append(`${label} `);
  const strong = document.createElement("strong");
  strong.textContent = value;
  el.append(strong);
  return el;
}

async function loadModelInfo() {
  const box = $("#model-info");
  try {
    const response = await fetch("/v1/models");
    const info = await response.json();
    const model = info.models[0];
    state.maxImages = info.limits.max_images;
    state.maxBytes = info.limits.max_upload_bytes;
    box.replaceChildren(
      chip("model", model.name),
      chip("charset", `${model.charset.name} (${model.charset.size})`),
      chip("input", `${model.input_size.height}×${model.input_size.width}`),
      chip("params", formatCount(model.parameters)),
    );
    $("#limits").textContent =
      `Up to ${info.limits.max_images} images and ${formatBytes(info.limits.max_upload_bytes)} per request · ` +
      `at most ${formatCount(info.limits.max_pixels)} pixels per image`;
    if (!model.attention) {
      const toggle = $("#attention-toggle");
      toggle.checked = false;
      toggle.disabled = true;
      toggle.parentElement.title = "This model was exported without attention maps";
    }
  } catch (error) {
    box.textContent = "model information unavailable";
  }
}

function showNotice(message) {
  const notice = $("#notice");
  notice.textContent = message;
  notice.hidden = !message;
}

function newCard(file) {
  const card = $("#card-template").content.firstElementChild.cloneNode(true);
  const url = URL.createObjectURL(file);
  const thumb = card.querySelector(".thumb img");
  thumb.src = url;
  thumb.alt = file.name;
  thumb.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  thumb.addEventListener(
    "error",
    () => {
      URL.revokeObjectURL(url);
      thumb.hidden = true;
      thumb.parentElement.classList.add("no-preview");
    },
    { once: true },
  );
  card.querySelector(".name").textContent = file.name || "pasted image";
  return card;
}

function showError(card, message) {
  card.classList.remove("pending");
  card.classList.add("failed");
  card.querySelector(".text").textContent = message;
}

function showResult(card, result) {
  if (result.error) {
    showError(card, result.error.message);
    return;
  }
  card.classList.remove("pending");
  const text = card.querySelector(".text");
  text.textContent = result.text || "(no text read)";
  text.classList.toggle("empty", !result.text);
  const score = card.querySelector(".score");
  score.hidden = false;
  score.querySelector(".meter span").style.setProperty("--p", result.confidence);
  score.querySelector(".confidence").textContent = `${(result.confidence * 100).toFixed(1)}% confidence`;
  const chars = card.querySelector(".chars");
  const letters = Array.from(result.text);
  chars.replaceChildren(
    ...letters.map((letter, i) => {
      const p = result.char_confidences[i] ?? 0;
      const el = document.createElement("span");
      el.className = "char";
      el.style.setProperty("--p", p);
      el.title = `${letter === " " ? "space" : letter}: ${(p * 100).toFixed(1)}%`;
      const glyph = document.createElement("b");
      glyph.textContent = letter === " " ? "\u2423" : letter;
      const prob = document.createElement("small");
      prob.textContent = p.toFixed(2);
      el.append(glyph, prob);
      return el;
    }),
  );
  const t = result.timing;
  card.querySelector(".timing").textContent =
    `decode ${t.decode_ms.toFixed(1)} ms · queue ${t.queue_ms.toFixed(1)} ms · ` +
    `model ${t.inference_ms.toFixed(1)} ms (batch of ${t.batch_size})`;
  if (result.attention_png) {
    const box = card.querySelector(".strip-box");
    const strip = box.querySelector(".strip");
    strip.src = `data:image/png;base64,${result.attention_png}`;
    strip.alt = `attention strip for "${result.text}"`;
    box.hidden = false;
  }
}

async function recognize(files) {
  const cards = files.map(newCard);
  $("#results").prepend(...cards); // newest request on top, its images in the order given
  $("#clear-button").hidden = false;
  const form = new FormData();
  files.forEach((file) => form.append("files", file, file.name || "pasted.png"));
  const attention = $("#attention-toggle").checked ? "?attention=1" : "";
  let body;
  try {
    const response = await fetch(`/v1/recognize${attention}`, { method: "POST", body: form });
    body = await response.json();
  } catch (error) {
    cards.forEach((card) => showError(card, `request failed: ${error.message}`));
    return;
  }
  if (Array.isArray(body.results)) {
    body.results.forEach((result, i) => showResult(cards[i], result));
  } else {
    const message = body.error ? body.error.message : "unexpected answer from the server";
    cards.forEach((card) => showError(card, message));
  }
}

function handleFiles(fileList) {
  const files = Array.from(fileList).filter((f) => !f.type || f.type.startsWith("image/"));
  const skipped = fileList.length - files.length;
  showNotice(skipped ? `${skipped} file(s) skipped: not images` : "");
  // Split into requests the server accepts: at most maxImages images and maxBytes per request.
  let batch = [];
  let bytes = 0;
  for (const file of files) {
    if (batch.length && (batch.length >= state.maxImages || bytes + file.size > state.maxBytes * 0.95)) {
      recognize(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(file);
    bytes += file.size;
  }
  if (batch.length) recognize(batch);
}

function setUp() {
  const zone = $("#drop-zone");
  const input = $("#file-input");
  input.addEventListener("change", () => {
    handleFiles(input.files);
    input.value = "";
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) handleFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
    if (files.length) handleFiles(files);
  });
  $("#clear-button").addEventListener("click", () => {
    $("#results").replaceChildren();
    $("#clear-button").hidden = true;
    showNotice("");
  });
  loadModelInfo();
}

setUp();
