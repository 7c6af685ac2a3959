/* geoapi map viewer: MapLibre GL JS on the service's own /style.json (its layers over the
   basemap it is configured with; by default Natural Earth served by geoapi, no CDN). */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("geoapi-config").textContent);
  const statusEl = document.getElementById("status");
  const form = document.getElementById("filters");
  // The layers of /style.json a pointer can hit, top first; photos before lines.
  const PHOTO_LAYERS = ["photos", "photos-no-ca", "photo-dots"];
  const INTERACTIVE = [...PHOTO_LAYERS, "sequences", "overview"];
  const NOTHING = "";

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", Boolean(isError));
  }

  // Filters: the page's query string holds transport_type, tag (comma-separated), from, to.

  function readFilters() {
    const params = new URLSearchParams(window.location.search);
    return {
      transport_type: params.get("transport_type") || "",
      tag: params.getAll("tag").join(", "),
      from: params.get("from") || "",
      to: params.get("to") || "",
    };
  }

  function splitTags(text) {
    return text.split(",").map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
  }

  /** The tile filter arguments (the service's names) for a filter state. */
  function tileArgs(filters) {
    const args = new URLSearchParams();
    if (filters.transport_type) args.set("transport_type", filters.transport_type);
    for (const tag of splitTags(filters.tag)) args.append("tag", tag);
    if (filters.from || filters.to) {
      const start = filters.from ? filters.from + "T00:00:00Z" : "..";
      const end = filters.to ? filters.to + "T23:59:59Z" : "..";
      args.set("datetime", start + "/" + end);
    }
    return args;
  }

  function withArgs(path, args) {
    const query = args.toString();
    return new URL(path + (query ? "?" + query : ""), window.location.origin).href;
  }

  function styleUrl(filters, basemap) {
    const args = tileArgs(filters);
    if (basemap) args.set("basemap", basemap);
    return withArgs(config.style, args);
  }

  function writeFiltersToUrl(filters) {
    const params = new URLSearchParams();
    if (filters.transport_type) params.set("transport_type", filters.transport_type);
    for (const tag of splitTags(filters.tag)) params.append("tag", tag);
    if (filters.from) params.set("from", filters.from);
    if (filters.to) params.set("to", filters.to);
    const query = params.toString();
    const url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
    window.history.replaceState(window.history.state, "", url);
  }

  function formFilters() {
    const data = new FormData(form);
    return {
      transport_type: String(data.get("transport_type") || ""),
      tag: String(data.get("tag") || ""),
      from: String(data.get("from") || ""),
      to: String(data.get("to") || ""),
    };
  }

  function fillForm(filters) {
    form.elements.transport_type.value = filters.transport_type;
    form.elements.tag.value = filters.tag;
    form.elements.from.value = filters.from;
    form.elements.to.value = filters.to;
  }

  // Service calls and reference lists.

  async function fetchJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && (body.detail || body.title);
      const error = new Error(detail || "HTTP " + response.status + " for " + url);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  /** The style for the filters; the bundled basemap when the configured one cannot be had. */
  async function loadStyle(filters) {
    try {
      return await fetchJson(styleUrl(filters));
    } catch (err) {
      if (err.status !== 502) throw err;
      setStatus("Basemap unavailable (" + err.message + "); showing Natural Earth.", true);
      return fetchJson(styleUrl(filters, "natural-earth"));
    }
  }

  async function loadTransportTypes(selected) {
    const select = form.elements.transport_type;
    const tree = await fetchJson(config.transport_types);
    for (const parent of tree) {
      const group = document.createElement("optgroup");
      group.label = parent.name;
      const all = document.createElement("option");
      all.value = parent.name;
      all.textContent = "All " + parent.name;
      group.appendChild(all);
      for (const child of parent.children || []) {
        const option = document.createElement("option");
        option.value = child.name;
        option.textContent = child.name;
        group.appendChild(option);
      }
      select.appendChild(group);
    }
    if (selected) {
      const known = Array.from(select.options).some((o) => o.value === selected);
      if (!known) {
        const option = document.createElement("option");
        option.value = selected;
        option.textContent = selected;
        select.appendChild(option);
      }
      select.value = selected;
    }
  }

  async function loadTags() {
    const list = document.getElementById("f-tag-list");
    const tags = await fetchJson(config.tags + "?limit=200");
    for (const tag of tags) {
      const option = document.createElement("option");
      option.value = tag.name;
      list.appendChild(option);
    }
  }

  /** The transport type colours, as /style.json lists them in its metadata. */
  function drawLegend(style) {
    const legend = document.getElementById("legend");
    legend.replaceChildren();
    const rows = (style.metadata && style.metadata["geoapi:legend"]) || [];
    for (const [label, colour] of rows) {
      const row = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour;
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(label));
      legend.appendChild(row);
    }
  }

  // Popups.

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function formatDate(iso) {
    if (!iso) return "unknown";
    return iso.replace("T", " ").replace(/:\d\d(\.\d+)?(Z|\+00:00)$/, " UTC");
  }

  function fields(rows) {
    const dl = el("dl");
    for (const [name, value, key] of rows) {
      dl.appendChild(el("dt", {}, name));
      dl.appendChild(el("dd", { "data-field": key || name.toLowerCase() }, value));
    }
    return dl;
  }

  function linkRow(links) {
    const p = el("p", { class: "links" });
    links.forEach((link, index) => {
      if (index) p.appendChild(document.createTextNode(" · "));
      p.appendChild(link);
    });
    return p;
  }

  function sequenceNode(feature, tours) {
    const p = feature.properties;
    const root = el("div", { class: "sequence-details", "data-sequence-id": feature.id });
    root.appendChild(el("h2", {}, p.title || "Untitled sequence"));
    if (p.description) root.appendChild(el("p", { class: "description" }, p.description));
    root.appendChild(fields([
      ["User", p.mapillary_username && p.mapillary_username !== p.username
        ? p.username + " (Mapillary: " + p.mapillary_username + ")" : p.username],
      ["Date", formatDate(p.captured_at)],
      ["Transport", p.transport_type || "not set"],
      ["Tags", p.tags && p.tags.length ? p.tags.join(", ") : "none"],
      ["Photos", p.photo_count],
      ["Likes", p.like_count],
      ["Tours", tours.length ? tours.map((t) => t.title || "Untitled tour").join(", ") : "none"],
    ]));
    const id = encodeURIComponent(feature.id);
    root.appendChild(linkRow([
      el("a", { href: config.sequences + id + "/export.geojson", download: "", class: "export" },
        "GeoJSON export"),
      el("a", { href: config.photo_items + "?sequence_id=" + id, class: "items", target: "_blank",
        rel: "noopener" }, "Photos in the features API"),
      el("a", { href: config.sequences + id, target: "_blank", rel: "noopener" }, "API"),
    ]));
    return root;
  }

  function photoNode(photo, sequence) {
    const root = el("div", { class: "photo-details", "data-image-key": photo.image_key });
    const title = sequence ? sequence.properties.title || "Untitled sequence" : "Photo";
    root.appendChild(el("h2", {}, title));
    const position = Number(photo.position) + 1;
    const angle = photo.ca !== undefined && photo.ca !== null ? Math.round(photo.ca) + "°" : "unknown";
    const time = photo.captured_at ? new Date(Number(photo.captured_at)).toISOString() : "";
    root.appendChild(fields([
      ["Image key", photo.image_key, "image_key"],
      ["Time", formatDate(time)],
      ["Angle", angle],
      ["Position", sequence ? position + " of " + sequence.properties.photo_count : "#" + position],
      ["Panorama", photo.pano ? "yes" : "no"],
    ]));
    const more = el("a", { href: "#", class: "sequence-link" }, "Sequence details");
    more.addEventListener("click", (event) => {
      event.preventDefault();
      showSequence(window.geoapiMap, String(photo.sequence_id), popup.getLngLat());
    });
    root.appendChild(linkRow([
      el("a", { href: config.mapillary_photo + encodeURIComponent(photo.image_key),
        class: "mapillary", target: "_blank", rel: "noopener" }, "View on Mapillary"),
      more,
    ]));
    return root;
  }

  let popup = null;

  function openPopup(map, lngLat, sequenceId) {
    if (popup) popup.remove();
    map.setFilter("sequence-selected", ["==", ["get", "id"], sequenceId]);
    popup = new maplibregl.Popup({ maxWidth: "340px" })
      .setLngLat(lngLat)
      .setDOMContent(el("p", { class: "loading" }, "Loading…"))
      .addTo(map);
    const mine = popup;
    mine.on("close", () => {
      if (popup === mine && map.getLayer("sequence-selected")) {
        map.setFilter("sequence-selected", ["==", ["get", "id"], NOTHING]);
      }
    });
    return mine;
  }

  async function showSequence(map, id, lngLat) {
    const mine = openPopup(map, lngLat, id);
    try {
      const feature = await fetchJson(config.sequences + encodeURIComponent(id));
      const tours = await Promise.all((feature.properties.tour_ids || []).map(
        (tourId) => fetchJson(config.tours + encodeURIComponent(tourId)).catch(() => ({}))));
      if (popup === mine) mine.setDOMContent(sequenceNode(feature, tours));
    } catch (err) {
      if (popup === mine) mine.setDOMContent(el("p", { class: "error" }, err.message));
    }
  }

  async function showPhoto(map, photo, lngLat) {
    const mine = openPopup(map, lngLat, String(photo.sequence_id));
    mine.setDOMContent(photoNode(photo, null));
    try {
      const sequence = await fetchJson(config.sequences + encodeURIComponent(photo.sequence_id));
      if (popup === mine) mine.setDOMContent(photoNode(photo, sequence));
    } catch (err) {
      // The photo's own fields are shown already; the sequence title is a nicety.
    }
  }

  // Pointer: what is under it, hover highlight, click.

  function hitAt(map, point) {
    const pad = 5;
    const box = [[point.x - pad, point.y - pad], [point.x + pad, point.y + pad]];
    const layers = INTERACTIVE.filter((l) => map.getLayer(l));
    const hits = map.queryRenderedFeatures(box, { layers });
    return hits.length ? hits[0] : null;
  }

  function sequenceOf(hit) {
    if (!hit) return NOTHING;
    const id = PHOTO_LAYERS.includes(hit.layer.id) ? hit.properties.sequence_id : hit.properties.id;
    return id ? String(id) : NOTHING;
  }

  let hovered = NOTHING;

  function setHover(map, id) {
    if (id === hovered) return;
    hovered = id;
    if (map.getLayer("sequence-hover")) map.setFilter("sequence-hover", ["==", ["get", "id"], id]);
    if (map.getLayer("photos-hover")) {
      map.setFilter("photos-hover", ["==", ["get", "sequence_id"], id]);
    }
    map.getCanvas().style.cursor = id ? "pointer" : "";
  }

  function onClick(map, event) {
    const hit = hitAt(map, event.point);
    if (!hit) return;
    if (PHOTO_LAYERS.includes(hit.layer.id)) {
      showPhoto(map, hit.properties, hit.geometry.coordinates);
    } else if (sequenceOf(hit)) {
      showSequence(map, sequenceOf(hit), event.lngLat);
    }
  }

  // Start-up.

  function fitData(map, tilejson) {
    if (!tilejson || !Array.isArray(tilejson.bounds)) return;
    const [w, s, e, n] = tilejson.bounds;
    // Keep the data clear of the filter panel on the left when there is room.
    const left = window.innerWidth > 700 ? 290 : 40;
    const padding = { top: 40, bottom: 40, left, right: 60 };
    if (e > w && n > s) map.fitBounds([[w, s], [e, n]], { padding, animate: false, maxZoom: 14 });
  }

  async function start() {
    if (typeof maplibregl === "undefined") {
      setStatus("MapLibre GL JS did not load (run bash .ci/build-web).", true);
      return;
    }
    const filters = readFilters();
    fillForm(filters);
    loadTransportTypes(filters.transport_type).catch((err) => setStatus(err.message, true));
    loadTags().catch(() => undefined);
    let style;
    try {
      style = await loadStyle(filters);
    } catch (err) {
      setStatus("Map style unavailable: " + err.message, true);
      return;
    }
    drawLegend(style);
    const hadView = /^#[\d.]+\/-?[\d.]+\/-?[\d.]+/.test(window.location.hash);
    const map = new maplibregl.Map({
      container: "map",
      hash: true,
      center: [0, 20],
      zoom: 1.2,
      maxZoom: 20,
      // No symbol fading: photo arrows appear at once, and zooming out of them was seen to keep
      // MapLibre 5.24 re-placing fading symbols (so drawing frames) for good.
      fadeDuration: 0,
      style,
    });
    window.geoapiMap = map;
    map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
    map.on("error", (event) => {
      const message = event && event.error && event.error.message;
      if (message) setStatus(message, true);
    });
    map.once("load", async () => {
      if (!hadView) {
        try {
          fitData(map, await fetchJson(withArgs(config.tilejson, tileArgs(filters))));
        } catch (err) {
          setStatus("Tiles unavailable: " + err.message, true);
        }
      }
      map.once("idle", () => {
        document.body.dataset.state = "ready";
        if (!statusEl.classList.contains("error")) setStatus("");
      });
    });
    map.on("click", (event) => onClick(map, event));
    map.on("mousemove", (event) => setHover(map, sequenceOf(hitAt(map, event.point))));
    map.getCanvas().addEventListener("mouseleave", () => setHover(map, NOTHING));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const next = formFilters();
      let nextStyle;
      try {
        nextStyle = await loadStyle(next); // a bad filter shows the service's problem detail
      } catch (err) {
        setStatus(err.message, true);
        return;
      }
      setStatus("");
      writeFiltersToUrl(next);
      if (popup) popup.remove();
      hovered = NOTHING;
      // The new style differs in the geoapi source's URL: MapLibre replaces that source and
      // its layers, and keeps the basemap as it is.
      map.setStyle(nextStyle);
    });
    form.addEventListener("reset", () => {
      window.setTimeout(() => form.dispatchEvent(new Event("submit", { cancelable: true })), 0);
    });

    window.geoapiViewer = {
      map,
      showSequence: (id, lngLat) => showSequence(map, id, lngLat),
      showPhoto: (photo, lngLat) => showPhoto(map, photo, lngLat),
      tileJsonUrl: () => map.getSource("geoapi") && map.getSource("geoapi").url,
    };
  }

  start();
})();
