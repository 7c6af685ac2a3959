"""Run by Debian's python3 with python3-qgis (tests/api/test_qgis.py): QGIS's OAPIF provider
against a geoapi URL; prints what QGIS saw as JSON. Not a test module (no test_ prefix)."""

import json
import os
import sys

from qgis.core import QgsApplication, QgsVectorLayer

QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
base, where = sys.argv[1], sys.argv[2]
out = {}
for name in ("sequences", "photos"):
    layer = QgsVectorLayer(f"url='{base}' typename='{name}'", name, "OAPIF")
    out[name] = [layer.isValid(), layer.featureCount()]
layer = QgsVectorLayer(f"url='{base}' typename='sequences'", "filtered", "OAPIF")
out["subset_ok"] = layer.setSubsetString(where)
out["filtered_count"] = layer.featureCount()
out["filtered_titles"] = sorted(f["title"] for f in layer.getFeatures())
print(json.dumps(out), flush=True)
# QGIS 3.22 can crash while tearing down its providers offscreen: leave without it.
os._exit(0)
