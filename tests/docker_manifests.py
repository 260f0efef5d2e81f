#!/usr/bin/python3
"""docker/ stays consistent (issue 15): every YAML file parses; each
ConfigMap inlines its docker/config/ template byte for byte; the PostgreSQL
template is the SQLite one with another store: section and nothing else;
both templates load (`ticketgate lint`); the compose files and, when kubectl
is installed, both kustomizations hold what docker/README.md promises: one
replica on SQLite with a volume, or 2+ replicas on PostgreSQL with the URL
from a Secret, /readyz readiness, a PodDisruptionBudget and no volume.
Run by ctest as `docker_manifests`. usage: docker_manifests.py BINARY SOURCE_DIR"""
import glob, os, re, shutil, subprocess, sys, tempfile

try:
    import yaml
except ImportError:
    print("SKIP docker_manifests: python3-yaml is not installed")
    sys.exit(77)

binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
D = os.path.join(src, "docker")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# 1. every YAML file parses
files = sorted(glob.glob(os.path.join(D, "**", "*.yaml"), recursive=True))
for p in files:
    try:
        docs(p)
        ok, why = True, ""
    except yaml.YAMLError as e:
        ok, why = False, ": %s" % e
    check(ok, "%s parses%s" % (os.path.relpath(p, src), why))

# 2. each ConfigMap inlines its template
single_cfg = open(os.path.join(D, "config", "ticketgate.yaml")).read()
pg_cfg = open(os.path.join(D, "config", "ticketgate-postgresql.yaml")).read()
for cm, text, name in (("k8s/configmap.yaml", single_cfg, "config/ticketgate.yaml"),
                       ("k8s-replicated/configmap.yaml", pg_cfg,
                        "config/ticketgate-postgresql.yaml")):
    data = docs(os.path.join(D, cm))[0].get("data", {})
    check(data.get("ticketgate.yaml") == text, "%s inlines %s byte for byte" % (cm, name))

# 3. the two templates differ in store: only
a, b = yaml.safe_load(single_cfg), yaml.safe_load(pg_cfg)
check({k: v for k, v in a.items() if k != "store"} == {k: v for k, v in b.items() if k != "store"},
      "config/ticketgate-postgresql.yaml is config/ticketgate.yaml but for store:")
check(a["store"].get("driver", "sqlite") == "sqlite" and "path" in a["store"],
      "config/ticketgate.yaml: store on SQLite at a path")
check(b["store"].get("driver") == "postgresql" and b["store"].get("url") == "${TG_DATABASE_URL}"
      and "path" not in b["store"],
      "config/ticketgate-postgresql.yaml: driver postgresql, url ${TG_DATABASE_URL}")

# 4. both load
tmp = tempfile.mkdtemp(prefix="tg-docker-")
try:
    for f in ("ticketgate.yaml", "ticketgate-postgresql.yaml"):
        shutil.copy(os.path.join(D, "config", f), tmp)
    shutil.copy(os.path.join(src, "example", "directory.yaml"), tmp)
    shutil.copytree(os.path.join(src, "example", "keys"), os.path.join(tmp, "keys"))
    env = dict(os.environ, TG_JIRA_HMAC_SECRET="jira-secret-for-the-manifest-test",
               TG_GENERIC_JWT_SECRET="generic-secret-for-the-manifest-test-0123",
               TG_STORE_HMAC_KEY="link-key-for-the-manifest-test",
               TG_DATABASE_URL="postgresql:///ticketgate?host=/nonexistent")
    for f in ("ticketgate.yaml", "ticketgate-postgresql.yaml"):
        r = subprocess.run([binary, "lint", "-c", os.path.join(tmp, f)], env=env,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "ticketgate lint config/%s (exit %d%s)" % (
            f, r.returncode, (": " + (r.stdout + r.stderr).strip()[-400:]) if r.returncode else ""))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# 5. compose
c1 = docs(os.path.join(D, "compose.yaml"))[0]["services"]
c2 = docs(os.path.join(D, "compose.postgresql.yaml"))[0]["services"]
check(list(c1) == ["ticketgate"] and any("/var/lib/ticketgate" in v for v in c1["ticketgate"]["volumes"]),
      "compose.yaml: one ticketgate service with the store's volume")
tg = c2.get("ticketgate", {})
check("postgres" in c2 and "pg_isready" in " ".join(c2["postgres"].get("healthcheck", {}).get("test", [])),
      "compose.postgresql.yaml: a postgres service with a readiness healthcheck")
check(tg.get("deploy", {}).get("replicas", 1) >= 2, "compose.postgresql.yaml: 2+ ticketgate replicas")
check(tg.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
      "compose.postgresql.yaml: ticketgate waits for a healthy postgres")
check(str(tg.get("environment", {}).get("TG_DATABASE_URL", "")).startswith("postgresql://")
      and "@postgres:" in tg["environment"]["TG_DATABASE_URL"],
      "compose.postgresql.yaml: TG_DATABASE_URL names the postgres service")
check(any(v.startswith("./config/ticketgate-postgresql.yaml:/etc/ticketgate/ticketgate.yaml")
          for v in tg.get("volumes", [])) and
      not any("/var/lib/ticketgate" in v for v in tg.get("volumes", [])),
      "compose.postgresql.yaml: mounts the PostgreSQL template, no store volume")
check("/readyz" in " ".join(tg.get("healthcheck", {}).get("test", [])),
      "compose.postgresql.yaml: healthcheck on /readyz")
# the glibc setting docker/README.md describes: the same in the compose
# service as in the test server the benchmark's figures come from
m = re.search(r"TG_TEST_PG_GLIBC_TUNABLES-([^}]+)\}",
              open(os.path.join(src, "scripts", "pg-test.sh")).read())
pg_env = c2.get("postgres", {}).get("environment", {})
if isinstance(pg_env, list):  # the "- KEY=VALUE" form compose allows too
    pg_env = dict(e.split("=", 1) for e in pg_env if "=" in e)
check(m is not None and pg_env.get("GLIBC_TUNABLES") == m.group(1)
      and "glibc.malloc.trim_threshold=" in m.group(1),
      "compose.postgresql.yaml: postgres's GLIBC_TUNABLES is scripts/pg-test.sh's (%s)"
      % (m.group(1) if m else "not found"))

# 6. the kustomizations, built
kubectl = shutil.which("kubectl")
if not kubectl:
    print("note: kubectl not installed: the kustomizations are parsed, not built")
else:
    def build(d):
        r = subprocess.run([kubectl, "kustomize", os.path.join(D, d)],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "kubectl kustomize docker/%s (%s)" % (d, r.stderr.strip()[-300:]))
        out = {}
        for doc in (yaml.safe_load_all(r.stdout) if r.returncode == 0 else []):
            if doc:
                out.setdefault(doc["kind"], []).append(doc)
        return out

    one, rep = build("k8s"), build("k8s-replicated")
    if one and rep:
        d1, d2 = one["Deployment"][0]["spec"], rep["Deployment"][0]["spec"]
        check(d1["replicas"] == 1 and d1["strategy"]["type"] == "Recreate" and
              "PersistentVolumeClaim" in one, "k8s: 1 replica, Recreate, a PersistentVolumeClaim")
        check(d2["replicas"] >= 2 and d2["strategy"]["type"] == "RollingUpdate" and
              d2["strategy"]["rollingUpdate"]["maxUnavailable"] == 0,
              "k8s-replicated: 2+ replicas, RollingUpdate with maxUnavailable 0")
        pod = d2["template"]["spec"]
        ctr = pod["containers"][0]
        check("PersistentVolumeClaim" not in rep and
              all("persistentVolumeClaim" not in v for v in pod["volumes"]) and
              all(m["mountPath"] != "/var/lib/ticketgate" for m in ctr["volumeMounts"]),
              "k8s-replicated: no volume for a store")
        check(ctr["readinessProbe"]["httpGet"]["path"] == "/readyz", "k8s-replicated: readiness on /readyz")
        pdb = rep.get("PodDisruptionBudget", [{}])[0].get("spec", {})
        check(pdb.get("maxUnavailable") == 1 and "minAvailable" not in pdb,
              "k8s-replicated: PodDisruptionBudget, one pod at a time")
        envs = [e["secretRef"]["name"] for e in ctr.get("envFrom", []) if "secretRef" in e]
        secrets = {s["metadata"]["name"]: s for s in rep.get("Secret", [])}
        check(any("TG_DATABASE_URL" in secrets.get(n, {}).get("stringData", {}) for n in envs),
              "k8s-replicated: TG_DATABASE_URL from a Secret the pods read")
        cm = {c["metadata"]["name"]: c for c in rep["ConfigMap"]}["ticketgate-config"]["data"]
        check(cm.get("ticketgate.yaml") == pg_cfg and "directory.yaml" in cm,
              "k8s-replicated: the PostgreSQL configuration beside the directory")

print("%s: %d failure(s)" % ("PASS" if not failures else "FAIL", len(failures)))
sys.exit(1 if failures else 0)
