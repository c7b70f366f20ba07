"""Validates deploy/k8s with real schema validators.

Core objects: kubernetes-validate --strict (the Kubernetes OpenAPI schemas). The MPIJob: its
kubeflow.org/v2beta1 schema (deploy/k8s/schemas) with jsonschema, and each replica's pod template
as a core v1 PodTemplate with kubernetes-validate. Broken copies must be refused, so the checks
can fail.
"""
import copy
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

K8S = "1.29.0"


def validate_core(obj):
    kubernetes_validate.validate(obj, K8S, strict=True)


def validate_mpijob(obj, schema):
    jsonschema.validate(obj, schema)
    for role, replica in obj["spec"]["mpiReplicaSpecs"].items():
        validate_core({"apiVersion": "v1", "kind": "PodTemplate",
                       "metadata": {"name": "%s-%s" % (obj["metadata"]["name"], role.lower())},
                       "template": replica["template"]})


def validate_service_monitor(obj, services):
    """The Prometheus Operator's CRD schema is not packaged on PyPI or Debian: check what makes a
    ServiceMonitor scrape the coordinator -- its selector matches a Service in its namespace whose
    named port it scrapes, at /metrics."""
    if obj["apiVersion"] != "monitoring.coreos.com/v1":
        raise ValueError("ServiceMonitor apiVersion must be monitoring.coreos.com/v1")
    spec = obj["spec"]
    if set(spec) - {"selector", "namespaceSelector", "endpoints", "jobLabel"}:
        raise ValueError("ServiceMonitor: unknown spec fields %s" % sorted(spec))
    wanted = spec["selector"]["matchLabels"]
    namespaces = spec.get("namespaceSelector", {}).get("matchNames", [obj["metadata"]["namespace"]])
    matched = [s for s in services
               if s["metadata"]["namespace"] in namespaces
               and all(s["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
    if not matched:
        raise ValueError("ServiceMonitor selects no Service (labels %s)" % wanted)
    for endpoint in spec["endpoints"]:
        if set(endpoint) - {"port", "path", "interval", "scheme", "tlsConfig", "honorLabels"}:
            raise ValueError("ServiceMonitor endpoint: unknown fields %s" % sorted(endpoint))
        ports = {p["name"] for s in matched for p in s["spec"]["ports"]}
        if endpoint["port"] not in ports:
            raise ValueError("ServiceMonitor scrapes port %r; the Service has %s" % (endpoint["port"], ports))
        if endpoint.get("path", "/metrics") != "/metrics":
            raise ValueError("ServiceMonitor path must be /metrics")


def check_non_root(deployment, mpijob, deploy):
    """Every pod runs as the image's user ftl (uid 1000, made by deploy/ssh/setup-user.sh): mpirun
    as root needs --allow-run-as-root, which mpi-operator's examples avoid. The MPIJob's ssh keys
    are mounted in ftl's home, and each worker's sshd reads the configuration the image installs
    there (port 2222, the mounted key as host key)."""
    setup = (deploy / "ssh" / "setup-user.sh").read_text()
    sshd_config = (deploy / "ssh" / "sshd_config").read_text()
    dockerfiles = [(deploy / name).read_text() for name in ("Dockerfile", "Dockerfile.cuda")]
    if "--uid 1000" not in setup or not all("setup-user.sh" in d and "USER 1000" in d
                                            for d in dockerfiles):
        raise ValueError("the images must create and switch to the user ftl (uid 1000)")
    pods = [("coordinator", deployment["spec"]["template"]["spec"])]
    pods += [(role, r["template"]["spec"]) for role, r in mpijob["spec"]["mpiReplicaSpecs"].items()]
    for name, pod in pods:
        context = pod.get("securityContext", {})
        if context.get("runAsUser") != 1000 or context.get("runAsNonRoot") is not True:
            raise ValueError("%s pod must run as uid 1000 with runAsNonRoot" % name)
        if context.get("fsGroup") != 1000:  # the 0440 Secrets are readable through the group
            raise ValueError("%s pod must set fsGroup 1000" % name)
    if mpijob["spec"].get("sshAuthMountPath") != "/home/ftl/.ssh":
        raise ValueError("MPIJob sshAuthMountPath must be ftl's /home/ftl/.ssh")
    worker = mpijob["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    if worker["command"] != ["/usr/sbin/sshd", "-De", "-f", "/home/ftl/.sshd_config"]:
        raise ValueError("worker sshd must run with /home/ftl/.sshd_config")
    if "/home/ftl/.sshd_config" not in setup or "HostKey /home/ftl/.ssh/id_rsa" not in sshd_config:
        raise ValueError("the image's sshd configuration is not where the MPIJob reads it")
    launcher = mpijob["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    if any("allow-run-as-root" in a for a in launcher["command"] + launcher["args"]):
        raise ValueError("the launcher must not need --allow-run-as-root")


def must_fail(check, obj, what):
    try:
        check(obj)
    except Exception:  # noqa: BLE001 - any validation error is the expected outcome
        return
    raise SystemExit("FAIL: a broken manifest passed: " + what)


def main(deploy):
    k8s = pathlib.Path(deploy) / "k8s"
    schema = json.loads((k8s / "schemas" / "mpijob-v2beta1.schema.json").read_text())
    objects = []
    for path in sorted(k8s.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                objects.append((path.name, obj))
    kinds = set()
    services = [o for _, o in objects if o["kind"] == "Service"]
    for name, obj in objects:
        if obj["kind"] == "MPIJob":
            validate_mpijob(obj, schema)
        elif obj["kind"] == "ServiceMonitor":
            validate_service_monitor(obj, services)
        else:
            validate_core(obj)
        kinds.add(obj["kind"])
        print("ok %-22s %s/%s" % (name, obj["kind"], obj["metadata"]["name"]))
    want = {"Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "MPIJob",
            "ServiceMonitor"}
    if not want <= kinds:
        raise SystemExit("FAIL: missing kinds %s" % (want - kinds))
    mpijob = next(o for _, o in objects if o["kind"] == "MPIJob")
    deployment = next(o for _, o in objects if o["kind"] == "Deployment")
    two_launchers = copy.deepcopy(mpijob)
    two_launchers["spec"]["mpiReplicaSpecs"]["Launcher"]["replicas"] = 2
    must_fail(lambda o: validate_mpijob(o, schema), two_launchers, "MPIJob with 2 launchers")
    bad_container = copy.deepcopy(mpijob)
    bad_container["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    must_fail(lambda o: validate_mpijob(o, schema), bad_container, "MPIJob pod with a misspelled field")
    # What the deployment promises (issues 15 and 16): TLS, the store on a ReadWriteOnce volume
    # with one replica replaced (not rolled), and no users' token in the workers' pods.
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    for flag in ("--tls_cert=", "--tls_key=", "--worker_token_file=", "--store="):
        if not any(a.startswith(flag) for a in args):
            raise SystemExit("FAIL: the coordinator has no " + flag)
    if deployment["spec"]["replicas"] != 1 or deployment["spec"]["strategy"]["type"] != "Recreate":
        raise SystemExit("FAIL: the coordinator must be one replica with the Recreate strategy")
    claims = {o["metadata"]["name"]: o for _, o in objects if o["kind"] == "PersistentVolumeClaim"}
    store_volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "store")
    if claims[store_volume["persistentVolumeClaim"]["claimName"]]["spec"]["accessModes"] != ["ReadWriteOnce"]:
        raise SystemExit("FAIL: the job store volume must be ReadWriteOnce")
    for role, replica in mpijob["spec"]["mpiReplicaSpecs"].items():
        secrets = [v["secret"]["secretName"] for v in replica["template"]["spec"]["volumes"] if "secret" in v]
        if "ftl-token" in secrets:
            raise SystemExit("FAIL: the MPIJob %s mounts the users' token" % role)
    launcher_args = mpijob["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"]
    if not any(a.startswith("--tls_ca=") for a in launcher_args):
        raise SystemExit("FAIL: the workers do not dial with TLS")
    check_non_root(deployment, mpijob, pathlib.Path(deploy))
    for mutate, what in (
            (lambda j: j["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["securityContext"]
             .update(runAsUser=0), "a worker pod running as root"),
            (lambda j: j["spec"].update(sshAuthMountPath="/root/.ssh"), "ssh keys outside ftl's home"),
            (lambda j: j["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["securityContext"]
             .pop("fsGroup"), "no fsGroup (Secrets unreadable)"),
            (lambda j: j["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
             .update(command=["/usr/sbin/sshd", "-De"]), "sshd with root's configuration")):
        broken = copy.deepcopy(mpijob)
        mutate(broken)
        must_fail(lambda o: check_non_root(deployment, o, pathlib.Path(deploy)), broken,
                  "MPIJob with " + what)
    monitor = next(o for _, o in objects if o["kind"] == "ServiceMonitor")
    for mutate, what in (
            (lambda m: m["spec"]["endpoints"][0].update(port="grpcc"), "a port the Service lacks"),
            (lambda m: m["spec"]["selector"]["matchLabels"].update(app="other"), "a selector matching nothing"),
            (lambda m: m["spec"].update(endpoint=[]), "a misspelled field")):
        broken = copy.deepcopy(monitor)
        mutate(broken)
        must_fail(lambda o: validate_service_monitor(o, services), broken, "ServiceMonitor with " + what)
    typo = copy.deepcopy(deployment)
    typo["spec"]["replica"] = 1
    must_fail(validate_core, typo, "Deployment with a misspelled field")
    print("PASS")


def validate_generated(deploy, paths):
    """MPIJobs written by `ftl manifest`: valid, filled in (no placeholder), named after the job."""
    schema = json.loads((pathlib.Path(deploy) / "k8s" / "schemas" / "mpijob-v2beta1.schema.json").read_text())
    for path in paths:
        text = pathlib.Path(path).read_text()
        if "REPLACE" in text:
            raise SystemExit("FAIL: %s still holds the placeholder" % path)
        obj = yaml.safe_load(text)
        validate_mpijob(obj, schema)
        env = obj["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["env"]
        job = next(e["value"] for e in env if e["name"] == "FTL_JOB_ID")
        if not obj["metadata"]["name"].startswith("ftl-workers-" + job.lower()[:20]):
            raise SystemExit("FAIL: %s is not named after %s" % (path, job))
        print("ok %s: MPIJob/%s for %s, %d worker pod(s) x %d slot(s)" % (
            path, obj["metadata"]["name"], job, obj["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"],
            obj["spec"]["slotsPerWorker"]))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "--mpijob":
        validate_generated(sys.argv[1], sys.argv[3:])
    else:
        main(sys.argv[1])
