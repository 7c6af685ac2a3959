// Builds the bundled basemap from the pinned npm package world-atlas (Natural Earth 4.1.0 as
// TopoJSON): for each scale (1:110m, 1:50m) one GeoJSON FeatureCollection holding the land
// polygons (kind "land", from land-*.json) and the borders between countries (kind "border",
// the arcs countries-*.json shares between two countries). Coordinates are lon/lat (SRID 4326)
// rounded to 4 decimals (11 m, finer than the quantized source). Deterministic output.
// Usage: node .ci/basemap.js OUT_DIR
"use strict";

const fs = require("fs");
const path = require("path");
const topojson = require("topojson-client");

const ATLAS = path.join(__dirname, "..", "node_modules", "world-atlas");
const SCALES = ["110m", "50m"];
const DECIMALS = 4;

function read(name) {
  return JSON.parse(fs.readFileSync(path.join(ATLAS, name), "utf8"));
}

function rounded(value) {
  if (typeof value === "number") return Math.round(value * 10 ** DECIMALS) / 10 ** DECIMALS;
  return value.map(rounded);
}

// One feature per polygon or line, so that a tile cuts only the parts near it.
function features(geometry, kind) {
  const single = { MultiPolygon: "Polygon", MultiLineString: "LineString" }[geometry.type];
  const parts = single ? geometry.coordinates : [geometry.coordinates];
  return parts.map((coordinates) => ({ type: "Feature", properties: { kind },
    geometry: { type: single || geometry.type, coordinates: rounded(coordinates) } }));
}

function build(scale) {
  const land = read(`land-${scale}.json`);
  const countries = read(`countries-${scale}.json`);
  const all = [];
  for (const feature of topojson.feature(land, land.objects.land).features) {
    all.push(...features(feature.geometry, "land"));
  }
  const borders = topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b);
  all.push(...features(borders, "border"));
  return { type: "FeatureCollection", features: all };
}

const out = process.argv[2];
if (!out) {
  console.error("usage: node .ci/basemap.js OUT_DIR");
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
for (const scale of SCALES) {
  const target = path.join(out, `ne-${scale}.geojson`);
  fs.writeFileSync(target, JSON.stringify(build(scale)) + "\n");
  console.log(`basemap: ${target}`);
}
fs.copyFileSync(path.join(ATLAS, "LICENSE"), path.join(out, "world-atlas.LICENSE.txt"));
