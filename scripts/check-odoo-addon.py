#!/usr/bin/env python3
"""Static checks of the Odoo addons in odoo-addon-bridge/ (Odoo itself cannot be installed here).

Prints one JSON report on stdout; exit code 1 when any problem was found.
Checked: every .py compiles (in memory, no .pyc written); each __manifest__.py is a literal dict
whose data/asset files exist; every .xml is well-formed; views reference existing models, fields,
actions and OWL templates; ir.model.access.csv has Odoo's header and names defined models.

    python3 scripts/check-odoo-addon.py [odoo-addon-bridge]
"""

import ast
import csv
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

ACCESS_HEADER = ["id", "name", "model_id:id", "group_id:id", "perm_read", "perm_write", "perm_create", "perm_unlink"]


def parse_xml(path):
    try:
        return ET.parse(path).getroot()
    except ET.ParseError:
        return None  # already reported by the well-formedness pass


def model_id(name):
    return "model_" + name.replace(".", "_")


def main(root):
    problems = []
    report = {"addons": {}, "problems": problems}
    addons = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "__manifest__.py")))
    # Models and fields defined by any addon here (the crm glue extends the base one).
    models, model_fields, xml_ids, owl_templates = {}, {}, set(), set()
    for addon in addons:
        base = os.path.join(root, addon)
        info = report["addons"][addon] = {"python": 0, "xml": 0}
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                if f.endswith(".py"):
                    info["python"] += 1
                    source = open(path, encoding="utf-8").read()
                    try:
                        tree = compile(source, rel, "exec", ast.PyCF_ONLY_AST)
                    except SyntaxError as err:
                        problems.append("%s: does not compile: %s" % (rel, err))
                        continue
                    for node in ast.walk(tree):
                        if isinstance(node, ast.ClassDef):
                            name, fields = None, []
                            for stmt in node.body:
                                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                                    target = stmt.targets[0].id
                                    if target in ("_name", "_inherit") and isinstance(stmt.value, ast.Constant):
                                        name = name or stmt.value.value
                                    value = stmt.value
                                    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                                            and isinstance(value.func.value, ast.Name) and value.func.value.id == "fields"):
                                        fields.append(target)
                            if name:
                                models.setdefault(name, addon)
                                model_fields.setdefault(name, set()).update(fields + ["id", "display_name"])
                elif f.endswith(".xml"):
                    info["xml"] += 1
                    try:
                        doc = ET.parse(path).getroot()
                    except ET.ParseError as err:
                        problems.append("%s: malformed XML: %s" % (rel, err))
                        continue
                    for el in doc.iter():
                        if el.tag == "record" and el.get("id"):
                            xml_ids.add("%s.%s" % (addon, el.get("id")))
                        if el.tag == "menuitem" and el.get("id"):
                            xml_ids.add("%s.%s" % (addon, el.get("id")))
                        if el.tag == "t" and el.get("t-name"):
                            owl_templates.add(el.get("t-name"))
    report["models"] = sorted(models)
    report["owl_templates"] = sorted(owl_templates)

    for addon in addons:
        base = os.path.join(root, addon)
        info = report["addons"][addon]
        try:
            manifest = ast.literal_eval(open(os.path.join(base, "__manifest__.py"), encoding="utf-8").read())
        except (ValueError, SyntaxError) as err:
            problems.append("%s/__manifest__.py: not a literal dict: %s" % (addon, err))
            continue
        if not isinstance(manifest, dict):
            problems.append("%s/__manifest__.py: not a dict" % addon)
            continue
        info["manifest"] = {k: manifest.get(k) for k in ("name", "version", "depends", "auto_install", "license")}
        for key in ("name", "depends", "license"):
            if key not in manifest:
                problems.append("%s: manifest has no %r" % (addon, key))
        files = list(manifest.get("data", []))
        for bundle, entries in (manifest.get("assets") or {}).items():
            for entry in entries:
                path = entry[-1] if isinstance(entry, (list, tuple)) else entry
                if not path.startswith(addon + "/"):
                    problems.append("%s: asset %s of %s is outside the addon" % (addon, path, bundle))
                    continue
                files.append(path[len(addon) + 1:])
        for rel in files:
            if not os.path.isfile(os.path.join(base, rel)):
                problems.append("%s: manifest references missing file %s" % (addon, rel))
        info["files"] = files

        # Access CSV.
        for rel in manifest.get("data", []):
            if rel.endswith("ir.model.access.csv"):
                with open(os.path.join(base, rel), newline="", encoding="utf-8") as fh:
                    rows = list(csv.reader(fh))
                if not rows or rows[0] != ACCESS_HEADER:
                    problems.append("%s/%s: header must be %s" % (addon, rel, ",".join(ACCESS_HEADER)))
                for row in rows[1:]:
                    if len(row) != len(ACCESS_HEADER):
                        problems.append("%s/%s: row %s has %d columns" % (addon, rel, row, len(row)))
                        continue
                    ref = row[2].split(".")[-1]
                    if ref not in {model_id(m) for m in models}:
                        problems.append("%s/%s: %s is not a model defined here" % (addon, rel, row[2]))
                    if any(v not in ("0", "1") for v in row[4:]):
                        problems.append("%s/%s: permissions must be 0/1 in %s" % (addon, rel, row))

        # Views: model exists, fields exist, refs resolve, OWL components and inherits resolve.
        for rel in files:
            path = os.path.join(base, rel)
            if not rel.endswith(".xml") or not os.path.isfile(path):
                continue
            doc = parse_xml(path)
            if doc is None:
                continue
            for record in doc.iter("record"):
                if record.get("model") == "ir.ui.view":
                    model_el = record.find("field[@name='model']")
                    model = model_el.text if model_el is not None else None
                    if model not in model_fields:
                        problems.append("%s/%s: view %s is on unknown model %s" % (addon, rel, record.get("id"), model))
                        continue
                    arch = record.find("field[@name='arch']")
                    for field in arch.iter("field") if arch is not None else []:
                        if field is not arch and field.get("name") not in model_fields[model]:
                            problems.append("%s/%s: view %s uses unknown field %s" % (addon, rel, record.get("id"), field.get("name")))
                    for button in arch.iter("button") if arch is not None else []:
                        if button.get("type") == "object":
                            source = "".join(open(os.path.join(d, f), encoding="utf-8").read()
                                             for d, _x, fs in os.walk(base) for f in fs if f.endswith(".py"))
                            if not re.search(r"def %s\(" % re.escape(button.get("name")), source):
                                problems.append("%s/%s: button calls missing method %s" % (addon, rel, button.get("name")))
                for field in record.iter("field"):
                    if field.get("ref", "").startswith("model_"):
                        if field.get("ref") not in {model_id(m) for m in models}:
                            problems.append("%s/%s: ref %s is not a model defined here" % (addon, rel, field.get("ref")))
            for menu in doc.iter("menuitem"):
                action = menu.get("action")
                if action and "%s.%s" % (addon, action) not in xml_ids and "." not in action:
                    problems.append("%s/%s: menu %s points to unknown action %s" % (addon, rel, menu.get("id"), action))
        # OWL: every static template = "x" is defined; every t-inherit targets mail.* or ours.
        for rel in files:
            path = os.path.join(base, rel)
            if rel.endswith(".js") and os.path.isfile(path):
                for name in re.findall(r'static template = "([^"]+)"', open(path, encoding="utf-8").read()):
                    if name not in owl_templates:
                        problems.append("%s/%s: OWL template %s is not defined" % (addon, rel, name))
            doc = parse_xml(path) if rel.endswith(".xml") and rel.startswith("static/") and os.path.isfile(path) else None
            if doc is not None:
                for el in doc.iter("t"):
                    parent = el.get("t-inherit")
                    if parent and not (parent in owl_templates or parent.startswith(("mail.", "web."))):
                        problems.append("%s/%s: t-inherit of unknown template %s" % (addon, rel, parent))
                    for comp in re.findall(r"<(Coex\w+)", ET.tostring(el, encoding="unicode")):
                        info.setdefault("components_used", []).append(comp)
    return report


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "odoo-addon-bridge")
    result = main(os.path.abspath(target))
    print(json.dumps(result, indent=2, default=sorted))
    sys.exit(1 if result["problems"] else 0)
