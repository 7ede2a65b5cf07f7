#!/usr/bin/env python3
"""Validates the deployment files of deploy/ offline (no cluster, no Spin needed).

* Every `kind: SpinApp` document under deploy/kubernetes/ is validated against the
  `openAPIV3Schema` of the SpinApp CRD in shared/reference/spinkube/, with unknown fields
  refused (as `kubectl apply`'s strict field validation does), then against what the
  operator's webhook enforces (replicas vs enableAutoscaling) and against spin.toml: the
  components and variables it names exist, the edge runs verify-key and kv-proxy only, every required
  variable is set, the Secrets, keys, volumes and claims it refers to are defined.
* Runtime configurations (deploy/runtime-config/*.toml and the `runtime-config.toml` of
  each Secret a SpinApp loads) parse and have the tables Spin expects.
* Other documents get shape checks (apiVersion, kind, metadata.name), and HPAs and Ingresses
  must point at what the operator creates for a SpinApp (a Deployment and a Service named
  after it, port 80).
* A self-check feeds deliberately broken copies to the same checks and fails unless every
  one is refused, so the validation cannot pass by checking nothing.

Exits 1 with one line per problem.
"""

from __future__ import annotations

import base64
import copy
import os
import re
import sys
import tomllib
from pathlib import Path, PurePosixPath

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
# shared/ lies beside the checkout (as for scripts/ensure-spin.sh); SPINAPP_CRD overrides.
CRD_CANDIDATES = [
    Path(p)
    for p in [
        os.environ.get("SPINAPP_CRD", ""),
        ROOT.parent / "shared/reference/spinkube/core.spinkube.dev_spinapps.yaml",
    ]
    if str(p)
]
KUBE_DIR = ROOT / "deploy/kubernetes"
RUNTIME_CONFIG_DIR = ROOT / "deploy/runtime-config"
SPIN_TOML = ROOT / "spin.toml"

EDGE_COMPONENTS = ["verify-key", "kv-proxy"]
ADMIN_COMPONENTS = ["manage-keys", "manage-permissions", "key-usage", "rebuild-records", "identity", "admin-ui"]
ROLE_LABEL = "app.kubernetes.io/component"
# What the operator creates for a SpinApp (spin-operator internal/controller): a Deployment
# and a ClusterIP Service, both named after the SpinApp, the Service on port 80.
OPERATOR_SERVICE_PORT = 80
RUNTIME_CONFIG_KEY = "runtime-config.toml"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SPIN_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --- The CRD -------------------------------------------------------------------------------


def find_crd() -> Path:
    for path in CRD_CANDIDATES:
        if path.is_file():
            return path
    sys.exit(
        "validate-manifests: SpinApp CRD not found at "
        + " or ".join(str(p) for p in CRD_CANDIDATES)
    )


def strict_schema(node):
    """The CRD schema as JSON Schema: `x-kubernetes-*` extensions dropped, and objects that
    list their properties closed to others (unknown fields are errors, as with kubectl's
    default strict validation; a structural schema prunes them silently otherwise)."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        else:
            out[key] = strict_schema(value)
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


def int_format_checker() -> jsonschema.FormatChecker:
    """Checks the integer formats of the CRD; other formats (date-time in status) are not
    asserted, as in the API server's validation of spec fields."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("int32")
    def _int32(value):
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")
    def _int64(value):
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    return checker


class Crd:
    def __init__(self, path: Path):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        crd = next(d for d in docs if d.get("kind") == "CustomResourceDefinition")
        spec = crd["spec"]
        self.group = spec["group"]
        self.kind = spec["names"]["kind"]
        self.validators = {}
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            schema = strict_schema(version["schema"]["openAPIV3Schema"])
            # Kubernetes structural schemas are an OpenAPI v3.0 subset, whose keywords have
            # JSON Schema draft 4 semantics (e.g. boolean exclusiveMinimum).
            jsonschema.Draft4Validator.check_schema(schema)
            self.validators[f"{self.group}/{version['name']}"] = jsonschema.Draft4Validator(
                schema, format_checker=int_format_checker()
            )
        if not self.validators:
            sys.exit(f"validate-manifests: {path} serves no version")


# --- spin.toml and runtime configurations ----------------------------------------------------


class SpinApp:
    def __init__(self, path: Path):
        manifest = tomllib.loads(path.read_text())
        self.components = manifest.get("component", {})
        self.variables = manifest.get("variables", {})
        self.required_variables = sorted(
            name for name, decl in self.variables.items() if decl.get("required")
        )


def check_runtime_config(text: str, where: str, role: str | None) -> list[str]:
    """Problems of one Spin runtime config. `role`: "edge", "admin" or None (either).
    Keys as Spin 4.1 reads them (crates/key-value-redis, crates/sqlite: the libsql and spin
    tables deny unknown keys)."""
    errors = []
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"{where}: not valid TOML: {exc}"]
    kv = config.get("key_value_store", {}).get("default")
    if not isinstance(kv, dict):
        errors.append(f"{where}: no [key_value_store.default] table")
    else:
        if kv.get("type") != "redis":
            errors.append(f"{where}: [key_value_store.default] type must be \"redis\" (shared store)")
        url = kv.get("url")
        if not isinstance(url, str) or not re.match(r"^rediss?://[^/\s]+", url):
            errors.append(f"{where}: [key_value_store.default] url must be redis://… or rediss://…")
        extra = sorted(set(kv) - {"type", "url"})
        if extra:
            errors.append(f"{where}: [key_value_store.default] unknown keys {extra}")
    sqlite = config.get("sqlite_database", {})
    if role == "edge" and sqlite:
        errors.append(f"{where}: an edge runtime config must not configure SQLite (verify-key never opens it)")
    db = sqlite.get("default")
    if db is not None:
        kind = db.get("type")
        keys = set(db) - {"type"}
        if kind == "libsql":
            if keys != {"url", "token"}:
                errors.append(f"{where}: [sqlite_database.default] libsql takes exactly url and token, has {sorted(keys)}")
            if not isinstance(db.get("url"), str) or not re.match(r"^https?://", db.get("url", "")):
                errors.append(f"{where}: libsql url must start with https:// or http:// (Spin speaks HTTP to libSQL)")
            if not isinstance(db.get("token"), str):
                errors.append(f"{where}: libsql token must be a string")
        elif kind == "spin":
            if not keys <= {"path", "allow_attach_file"}:
                errors.append(f"{where}: [sqlite_database.default] spin takes path and allow_attach_file, has {sorted(keys)}")
        else:
            errors.append(f"{where}: [sqlite_database.default] type must be \"spin\" or \"libsql\", is {kind!r}")
    return errors


def safe_toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def admin_sqlite(text: str) -> dict | None:
    return safe_toml(text).get("sqlite_database", {}).get("default")


def check_runtime_config_files() -> tuple[list[str], int]:
    errors = []
    expected = {
        "redis.toml": None,
        "admin-libsql.toml": "admin",
    }
    for name in expected:
        if not (RUNTIME_CONFIG_DIR / name).is_file():
            errors.append(f"deploy/runtime-config/{name}: missing")
    files = sorted(RUNTIME_CONFIG_DIR.glob("*.toml"))
    for path in files:
        rel = path.relative_to(ROOT)
        text = path.read_text()
        errors += check_runtime_config(text, str(rel), expected.get(path.name))
        if path.name == "redis.toml" and "sqlite_database" in safe_toml(text):
            errors.append(f"{rel}: must configure the key-value store only")
        if path.name == "admin-libsql.toml":
            db = admin_sqlite(text)
            if not db or db.get("type") != "libsql":
                errors.append(f"{rel}: needs [sqlite_database.default] with type = \"libsql\"")
    return errors, len(files)


# --- Kubernetes manifests ---------------------------------------------------------------------


class Doc:
    def __init__(self, path: Path, index: int, body: dict):
        self.path = path
        self.index = index
        self.body = body

    @property
    def where(self) -> str:
        name = (self.body.get("metadata") or {}).get("name", "?") if isinstance(self.body, dict) else "?"
        kind = self.body.get("kind", "?") if isinstance(self.body, dict) else "?"
        return f"{self.path.relative_to(ROOT)}#{self.index} {kind}/{name}"

    @property
    def directory(self) -> Path:
        return self.path.parent


def load_docs() -> tuple[list[Doc], list[str]]:
    docs, errors = [], []
    files = sorted(KUBE_DIR.rglob("*.yaml")) + sorted(KUBE_DIR.rglob("*.yml"))
    if not files:
        errors.append(f"{KUBE_DIR.relative_to(ROOT)}: no manifests")
    for path in files:
        try:
            bodies = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            errors.append(f"{path.relative_to(ROOT)}: not valid YAML: {exc}")
            continue
        for index, body in enumerate(b for b in bodies if b is not None):
            docs.append(Doc(path, index, body))
    return docs, errors


def check_shape(doc: Doc) -> list[str]:
    body = doc.body
    if not isinstance(body, dict):
        return [f"{doc.where}: a document must be a mapping"]
    errors = []
    for key in ("apiVersion", "kind"):
        if not isinstance(body.get(key), str) or not body[key]:
            errors.append(f"{doc.where}: missing {key}")
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        errors.append(f"{doc.where}: metadata.name must be a DNS subdomain name")
    return errors


class Context:
    """Everything a document may refer to, from the whole deploy/kubernetes tree."""

    def __init__(self, docs: list[Doc], crd: Crd, app: SpinApp):
        self.crd = crd
        self.app = app
        self.docs = docs
        self.secrets: dict[str, dict[str, str]] = {}
        self.claims: set[str] = set()
        for doc in docs:
            body = doc.body if isinstance(doc.body, dict) else {}
            name = (body.get("metadata") or {}).get("name")
            if body.get("kind") == "Secret" and body.get("apiVersion") == "v1":
                values = {}
                for key, value in (body.get("data") or {}).items():
                    try:
                        values[key] = base64.b64decode(str(value), validate=True).decode()
                    except (ValueError, UnicodeDecodeError):
                        values[key] = None
                values.update({k: str(v) for k, v in (body.get("stringData") or {}).items()})
                self.secrets[name] = values
            elif body.get("kind") == "PersistentVolumeClaim" and body.get("apiVersion") == "v1":
                self.claims.add(name)

    def spinapps_in(self, directory: Path) -> dict[str, dict]:
        return {
            d.body["metadata"]["name"]: d.body
            for d in self.docs
            if isinstance(d.body, dict)
            and d.body.get("kind") == self.crd.kind
            and d.directory == directory
            and isinstance(d.body.get("metadata"), dict)
        }


def secret_value(ctx: Context, where: str, ref: dict, errors: list[str]) -> str | None:
    name, key = ref.get("name"), ref.get("key")
    if name not in ctx.secrets:
        errors.append(f"{where}: refers to Secret {name!r}, which no manifest defines")
        return None
    if key not in ctx.secrets[name]:
        errors.append(f"{where}: Secret {name!r} has no key {key!r}")
        return None
    return ctx.secrets[name][key]


def check_spinapp(doc: Doc, ctx: Context) -> list[str]:
    body, where = doc.body, doc.where
    errors = check_shape(doc)
    validator = ctx.crd.validators.get(body.get("apiVersion"))
    if body.get("kind") != ctx.crd.kind:
        errors.append(f"{where}: kind must be {ctx.crd.kind}")
    if validator is None:
        errors.append(
            f"{where}: apiVersion {body.get('apiVersion')!r} is not a served version of the CRD "
            f"({', '.join(ctx.crd.validators)})"
        )
        return errors
    schema_errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    for err in schema_errors:
        path = ".".join(str(p) for p in err.absolute_path) or "(document)"
        errors.append(f"{where}: CRD schema: {path}: {err.message}")
    if schema_errors:
        return errors
    spec = body.get("spec", {})
    labels = body["metadata"].get("labels") or {}

    # What the operator's validating webhook refuses.
    if spec.get("enableAutoscaling") and "replicas" in spec:
        errors.append(f"{where}: replicas cannot be set when enableAutoscaling is true")
    if not spec.get("enableAutoscaling") and spec.get("replicas", 0) < 1:
        errors.append(f"{where}: replicas must be at least 1 (or enableAutoscaling: true)")

    # Components against spin.toml; the two roles of this deployment.
    components = spec.get("components")
    if components is None:
        errors.append(f"{where}: spec.components must be listed (selective deployment)")
        components = []
    for name in components:
        if name not in ctx.app.components:
            errors.append(f"{where}: component {name!r} is not in spin.toml")
    if len(set(components)) != len(components):
        errors.append(f"{where}: a component is listed twice")
    role = labels.get(ROLE_LABEL)
    if role == "edge":
        if components != EDGE_COMPONENTS:
            errors.append(f"{where}: the edge must run {EDGE_COMPONENTS} only, runs {components}")
        for name in components:
            if ctx.app.components.get(name, {}).get("sqlite_databases"):
                errors.append(f"{where}: edge component {name!r} uses SQLite in spin.toml")
    elif role == "admin":
        missing = [c for c in ADMIN_COMPONENTS if c not in components]
        if missing:
            errors.append(f"{where}: the admin node must run {missing} too")
        if any(c in components for c in EDGE_COMPONENTS):
            errors.append(f"{where}: the admin node must not run {EDGE_COMPONENTS}")
    else:
        errors.append(f"{where}: label {ROLE_LABEL} must be \"edge\" or \"admin\"")

    # Variables against spin.toml; every required one set (Spin refuses to start otherwise,
    # even when no retained component reads it).
    seen = []
    for index, var in enumerate(spec.get("variables", [])):
        vwhere = f"{where}: variables[{index}]"
        name = var["name"]
        seen.append(name)
        if not SPIN_VARIABLE_NAME.match(name) or name not in ctx.app.variables:
            errors.append(f"{vwhere}: {name!r} is not a variable of spin.toml {sorted(ctx.app.variables)}")
        if ("value" in var) == ("valueFrom" in var):
            errors.append(f"{vwhere}: set exactly one of value and valueFrom")
        source = var.get("valueFrom") or {}
        if len(source) > 1:
            errors.append(f"{vwhere}: valueFrom takes one source")
        if "secretKeyRef" in source:
            secret_value(ctx, vwhere, source["secretKeyRef"], errors)
        if ctx.app.variables.get(name, {}).get("secret") and "value" in var and role != "edge":
            errors.append(f"{vwhere}: {name!r} is secret: take it from a Secret (valueFrom.secretKeyRef)")
    if len(set(seen)) != len(seen):
        errors.append(f"{where}: a variable is set twice")
    for name in ctx.app.required_variables:
        if name not in seen:
            errors.append(f"{where}: required variable {name!r} is not set")

    # Runtime configuration: one Secret holding runtime-config.toml.
    runtime_config = spec.get("runtimeConfig", {})
    secret_name = runtime_config.get("loadFromSecret")
    sqlite = None
    if not secret_name:
        errors.append(f"{where}: runtimeConfig.loadFromSecret must name the runtime-config Secret")
    else:
        others = sorted(set(runtime_config) - {"loadFromSecret"})
        if others:
            errors.append(f"{where}: runtimeConfig {others} is ignored by the operator beside loadFromSecret")
        text = secret_value(
            ctx, f"{where}: runtimeConfig.loadFromSecret", {"name": secret_name, "key": RUNTIME_CONFIG_KEY}, errors
        )
        if text is not None:
            errors += check_runtime_config(text, f"{where}: Secret {secret_name}/{RUNTIME_CONFIG_KEY}", role)
            sqlite = admin_sqlite(text)

    # Volumes and mounts.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = spec.get("volumeMounts", [])
    for mount in mounts:
        if mount["name"] not in volumes:
            errors.append(f"{where}: volumeMount {mount['name']!r} names no volume")
    for volume in volumes.values():
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None and claim not in ctx.claims:
            errors.append(f"{where}: volume {volume['name']!r} claims {claim!r}, which no manifest defines")
        secret = (volume.get("secret") or {}).get("secretName")
        if secret is not None and secret not in ctx.secrets:
            errors.append(f"{where}: volume {volume['name']!r} uses Secret {secret!r}, which no manifest defines")

    # The admin node's SQLite database: on a mounted volume with one replica, or libSQL.
    if role == "admin" and secret_name:
        kind = (sqlite or {}).get("type")
        if kind == "libsql":
            pass
        elif kind == "spin" and isinstance(sqlite.get("path"), str):
            db_path = PurePosixPath(sqlite["path"])
            if not db_path.is_absolute() or not any(
                db_path.is_relative_to(PurePosixPath(m["mountPath"])) for m in mounts
            ):
                errors.append(
                    f"{where}: SQLite path {sqlite['path']} is not on a mounted volume (lost on restart)"
                )
            if spec.get("enableAutoscaling") or spec.get("replicas") != 1:
                errors.append(f"{where}: a local SQLite database allows replicas: 1 only (or use libSQL)")
        elif kind is None:
            errors.append(
                f"{where}: the admin runtime config needs [sqlite_database.default] (a path on a volume, "
                "or libSQL): the pod's default database is lost on restart"
            )
    return errors


def check_hpa(doc: Doc, ctx: Context) -> list[str]:
    errors = check_shape(doc)
    spec = doc.body.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    if target.get("apiVersion") != "apps/v1" or target.get("kind") != "Deployment":
        errors.append(f"{doc.where}: scaleTargetRef must be the apps/v1 Deployment the operator creates")
    app = ctx.spinapps_in(doc.directory).get(target.get("name"))
    if app is None:
        errors.append(f"{doc.where}: scaleTargetRef names no SpinApp of {doc.directory.relative_to(ROOT)}")
    elif not app.get("spec", {}).get("enableAutoscaling"):
        errors.append(f"{doc.where}: SpinApp {target.get('name')} must set enableAutoscaling: true")
    elif any((m.get("resource") or {}).get("name") == "cpu" for m in spec.get("metrics", [])):
        if "cpu" not in ((app["spec"].get("resources") or {}).get("requests") or {}):
            errors.append(f"{doc.where}: CPU utilization needs resources.requests.cpu on the SpinApp")
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(high, int) or not isinstance(low, int) or not 1 <= low <= high:
        errors.append(f"{doc.where}: needs 1 <= minReplicas <= maxReplicas")
    return errors


def check_ingress(doc: Doc, ctx: Context) -> list[str]:
    errors = check_shape(doc)
    apps = ctx.spinapps_in(doc.directory)
    for rule in (doc.body.get("spec") or {}).get("rules", []):
        for path in (rule.get("http") or {}).get("paths", []):
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name") not in apps:
                errors.append(f"{doc.where}: backend {service.get('name')!r} is not a SpinApp's Service")
            if (service.get("port") or {}).get("number") != OPERATOR_SERVICE_PORT:
                errors.append(f"{doc.where}: the operator's Service listens on port {OPERATOR_SERVICE_PORT}")
    return errors


def check_secret(doc: Doc) -> list[str]:
    errors = check_shape(doc)
    for field in ("data", "stringData"):
        values = doc.body.get(field)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            errors.append(f"{doc.where}: {field} must map keys to strings")
    return errors


def check_document(doc: Doc, ctx: Context) -> list[str]:
    if not isinstance(doc.body, dict):
        return check_shape(doc)
    kind = doc.body.get("kind")
    if kind == ctx.crd.kind or str(doc.body.get("apiVersion", "")).startswith(ctx.crd.group + "/"):
        return check_spinapp(doc, ctx)
    if kind == "HorizontalPodAutoscaler":
        return check_hpa(doc, ctx)
    if kind == "Ingress":
        return check_ingress(doc, ctx)
    if kind == "Secret":
        return check_secret(doc)
    return check_shape(doc)


def check_tree(docs: list[Doc], ctx: Context) -> list[str]:
    errors = []
    for doc in docs:
        errors += check_document(doc, ctx)
    names: dict[tuple, Doc] = {}
    for doc in docs:
        if not isinstance(doc.body, dict):
            continue
        key = (doc.directory, doc.body.get("kind"), (doc.body.get("metadata") or {}).get("name"))
        if key in names:
            errors.append(f"{doc.where}: defined twice in {doc.directory.relative_to(ROOT)}")
        names[key] = doc
    # Every component of spin.toml runs on some node of the base deployment.
    deployed = {c for app in ctx.spinapps_in(KUBE_DIR).values() for c in app.get("spec", {}).get("components", [])}
    for name in ctx.app.components:
        if name not in deployed:
            errors.append(f"{KUBE_DIR.relative_to(ROOT)}: spin.toml component {name!r} runs on no SpinApp")
    return errors


# --- Self-check -------------------------------------------------------------------------------


def variable(spinapp, name):
    """The entry of `spec.variables` named `name`."""
    return next(v for v in spinapp["spec"]["variables"] if v["name"] == name)


def self_check(docs: list[Doc], ctx: Context) -> tuple[list[str], int]:
    """Broken copies of the real manifests; each must be refused."""

    def first(role: str) -> Doc:
        return next(
            d
            for d in docs
            if isinstance(d.body, dict)
            and d.body.get("kind") == ctx.crd.kind
            and (d.body.get("metadata", {}).get("labels") or {}).get(ROLE_LABEL) == role
            and d.directory == KUBE_DIR
        )

    def mutate(doc: Doc, change) -> Doc:
        body = copy.deepcopy(doc.body)
        change(body)
        return Doc(doc.path, doc.index, body)

    edge, admin = first("edge"), first("admin")
    cases = {
        "unknown field under spec": (edge, lambda b: b["spec"].update(replicaCount=3)),
        "replicas as a string": (edge, lambda b: b["spec"].update(replicas="3")),
        "replicas over int32": (edge, lambda b: b["spec"].update(replicas=2**31)),
        "unknown field in a probe": (edge, lambda b: b["spec"]["checks"]["readiness"].update(path="/x")),
        "no image": (edge, lambda b: b["spec"].pop("image")),
        "wrong apiVersion": (edge, lambda b: b.update(apiVersion="core.spinkube.dev/v1")),
        "replicas with autoscaling": (edge, lambda b: b["spec"].update(enableAutoscaling=True)),
        "edge running an admin component": (edge, lambda b: b["spec"]["components"].append("manage-keys")),
        "component not in spin.toml": (admin, lambda b: b["spec"]["components"].append("no-such-component")),
        "variable not in spin.toml": (admin, lambda b: b["spec"]["variables"].append({"name": "no_such_variable", "value": "x"})),
        "a variable set twice": (edge, lambda b: b["spec"]["variables"].append(dict(b["spec"]["variables"][0]))),
        "secretKeyRef to a missing Secret": (
            admin,
            lambda b: variable(b, "identity_token_secret")["valueFrom"]["secretKeyRef"].update(name="no-such-secret"),
        ),
        "the identity secret as a plain value": (
            admin,
            lambda b: variable(b, "identity_token_secret").update(value="x") or variable(b, "identity_token_secret").pop("valueFrom"),
        ),
        "loadFromSecret to a missing Secret": (edge, lambda b: b["spec"]["runtimeConfig"].update(loadFromSecret="no-such-secret")),
        "admin with two local-SQLite replicas": (admin, lambda b: b["spec"].update(replicas=2)),
    }
    problems = []
    for label, (doc, change) in cases.items():
        if not check_spinapp(mutate(doc, change), ctx):
            problems.append(f"self-check: the validator accepted a SpinApp with {label}")
    for label, text, role in [
        ("broken TOML", "[key_value_store.default\ntype = 'redis'", None),
        ("no key-value table", "[sqlite_database.default]\ntype = 'spin'\n", None),
        ("a non-Redis store", "[key_value_store.default]\ntype = 'spin'\n", None),
        ("libsql without token", "[key_value_store.default]\ntype='redis'\nurl='redis://r:6379'\n"
         "[sqlite_database.default]\ntype='libsql'\nurl='https://db.example'\n", None),
        ("SQLite on the edge", "[key_value_store.default]\ntype='redis'\nurl='redis://r:6379'\n"
         "[sqlite_database.default]\ntype='spin'\n", "edge"),
    ]:
        if not check_runtime_config(text, "self-check", role):
            problems.append(f"self-check: the validator accepted a runtime config with {label}")
    return problems, len(cases) + 5


def main() -> int:
    crd = Crd(find_crd())
    app = SpinApp(SPIN_TOML)
    docs, errors = load_docs()
    ctx = Context(docs, crd, app)
    errors += check_tree(docs, ctx)
    rc_errors, rc_files = check_runtime_config_files()
    errors += rc_errors
    problems, cases = self_check(docs, ctx)
    errors += problems
    for line in errors:
        print(f"validate-manifests: {line}", file=sys.stderr)
    if errors:
        print(f"validate-manifests: FAILED ({len(errors)} problem(s))", file=sys.stderr)
        return 1
    spinapps = sum(1 for d in docs if d.body.get("kind") == crd.kind)
    print(
        f"validate-manifests: {len(docs)} Kubernetes documents ({spinapps} SpinApps, against "
        f"{', '.join(crd.validators)}) and {rc_files} runtime configs valid; "
        f"self-check: {cases} broken copies refused"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
