"""The official Kubernetes Python client (PyPI `kubernetes`) against a real
`hive cloud` with a real edge (node NODE): typed reads of every served kind,
writes, watches that end by timeoutSeconds, and a namespace's life.

Run by tests/python_client.rs: python client.py KUBECONFIG NODE.
Every step asserts; the first failure raises and the process exits non-zero.
"""

import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

kubeconfig, node = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=kubeconfig)
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
apps = client.AppsV1Api()
NS = "py"


def status_of(call):
    try:
        call()
    except ApiException as e:
        return e.status
    return 200


def step(name):
    print("step:", name, flush=True)


step("version and discovery: typed models of /version, /api, /apis and their resource lists")
v = client.VersionApi().get_code()
assert v.major == "1" and v.git_version.startswith("v1."), v
assert client.CoreApi().get_api_versions().versions == ["v1"]
resources = {r.name: r for r in core.get_api_resources().resources}
assert {"pods", "configmaps", "secrets", "nodes", "namespaces", "events", "pods/status"} <= set(resources), sorted(resources)
assert resources["pods"].short_names == ["po"] and "watch" in resources["pods"].verbs and resources["pods"].namespaced
groups = {g.name: g for g in client.ApisApi().get_api_versions().groups}
assert groups["devices.kubeedge.io"].preferred_version.version == "v1beta1", groups

step("nodes: typed list and read, every NodeSystemInfo field present")
nodes = core.list_node()
names = [n.metadata.name for n in nodes.items]
assert node in names, names
n = core.read_node(node)
info = n.status.node_info
assert info.kernel_version and info.kubelet_version.startswith("hive-v"), info
assert info.architecture and info.operating_system == "linux", info
assert info.machine_id is not None and info.boot_id is not None and info.system_uuid is not None, info
ready = [c for c in n.status.conditions if c.type == "Ready"]
assert ready and ready[0].status in ("True", "False"), n.status.conditions
core.patch_node(node, {"metadata": {"labels": {"py": "yes"}}})
assert core.read_node(node).metadata.labels["py"] == "yes"
assert [x.metadata.name for x in core.list_node(label_selector="py=yes").items] == [node]

step("namespaces: the defaults, create, an unknown one refused")
have = {x.metadata.name for x in core.list_namespace().items}
assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= have, have
ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
assert ns.status.phase == "Active", ns.status
assert core.read_namespace(NS).metadata.uid == ns.metadata.uid
cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nowhere"), data={"a": "1"})
assert status_of(lambda: core.create_namespaced_config_map("no-such-ns", cm)) == 404

step("configmaps: create, read, replace, patch, list by label, watch with timeoutSeconds")
cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"app": "py"}), data={"mode": "fast"})
made = core.create_namespaced_config_map(NS, cm)
assert made.metadata.resource_version and made.metadata.creation_timestamp, made.metadata
made.data["mode"] = "slow"
replaced = core.replace_namespaced_config_map("cfg", NS, made)
assert replaced.data == {"mode": "slow"}, replaced.data
assert int(replaced.metadata.resource_version) > int(made.metadata.resource_version)
patched = core.patch_namespaced_config_map("cfg", NS, {"data": {"extra": "1"}})
assert patched.data == {"mode": "slow", "extra": "1"}, patched.data
assert [c.metadata.name for c in core.list_namespaced_config_map(NS, label_selector="app=py").items] == ["cfg"]
assert core.list_namespaced_config_map(NS, label_selector="app=none").items == []
t0 = time.monotonic()
events = list(watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=2))
took = time.monotonic() - t0
assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "cfg")], events
assert took < 30, "the watch did not end by timeoutSeconds (%.1fs)" % took

step("paging: limit and continue, a forged token refused")
for i in range(2):
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="page-%d" % i)))
seen, token = [], None
for _ in range(10):
    page = core.list_namespaced_config_map(NS, limit=1, _continue=token)
    assert len(page.items) <= 1, page.items
    seen += [c.metadata.name for c in page.items]
    token = page.metadata._continue
    if not token:
        break
assert seen == ["cfg", "page-0", "page-1"], seen
assert status_of(lambda: core.list_namespaced_config_map(NS, limit=1, _continue="Zm9yZ2Vk")) == 400

step("watch bookmarks, resourceVersionMatch, deletecollection")
evs = list(watch.Watch().stream(core.list_namespaced_config_map, NS, allow_watch_bookmarks=True, send_initial_events=True,
                                 resource_version_match="NotOlderThan", timeout_seconds=1))
marks = [e for e in evs if e["type"] == "BOOKMARK"]
assert len(marks) == 1 and marks[0]["raw_object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true", evs
assert [e["object"].metadata.name for e in evs if e["type"] == "ADDED"] == ["cfg", "page-0", "page-1"], evs
assert status_of(lambda: core.list_namespaced_config_map(NS, resource_version="1", resource_version_match="Exact")) == 410
assert status_of(lambda: core.list_namespaced_config_map(NS, resource_version="999999999", resource_version_match="NotOlderThan")) == 504
st = core.delete_collection_namespaced_config_map(NS, field_selector="metadata.name=page-0")
assert st.status == "Success", st
assert [c.metadata.name for c in core.list_namespaced_config_map(NS).items] == ["cfg", "page-1"]

step("events: core v1 and events.k8s.io/v1 read the same events")
core_evs = core.list_namespaced_event("default", field_selector="involvedObject.name=" + node).items
assert any(e.reason == "RegisteredNode" for e in core_evs), [e.reason for e in core_evs]
v1_evs = client.EventsV1Api().list_namespaced_event("default").items
reg = [e for e in v1_evs if e.reason == "RegisteredNode" and e.regarding.name == node]
assert reg and reg[0].event_time and reg[0].note.startswith("Node " + node), v1_evs

step("secrets: create, read, delete")
s = core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name="pw"), string_data={"password": "hunter2"}, type="Opaque"))
assert core.read_namespaced_secret("pw", NS).type == "Opaque"
core.delete_namespaced_secret("pw", NS)
assert status_of(lambda: core.read_namespaced_secret("pw", NS)) == 404

step("pods: Pending with a QoS class at create, typed status once the edge reports")
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="web", labels={"app": "py"}),
    spec=client.V1PodSpec(
        node_name=node,
        containers=[client.V1Container(name="c", image="busybox", env_from=[client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name="cfg"))])],
    ),
)
p = core.create_namespaced_pod(NS, pod)
assert p.status.phase == "Pending" and p.status.qos_class == "BestEffort", p.status
assert p.metadata.generation == 1 and p.metadata.uid, p.metadata
assert [x.metadata.name for x in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=" + node).items] == ["web"]
g = client.V1Pod(metadata=client.V1ObjectMeta(name="g"), spec=client.V1PodSpec(node_name="elsewhere", containers=[
    client.V1Container(name="c", image="busybox", resources=client.V1ResourceRequirements(limits={"cpu": "1", "memory": "64Mi"}))]))
assert core.create_namespaced_pod(NS, g).status.qos_class == "Guaranteed"

step("a pod's events: the scheduler's FailedScheduling (the only node is NotReady without a runtime)")
core.create_namespaced_pod(NS, client.V1Pod(metadata=client.V1ObjectMeta(name="unplaced"), spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])))
for _ in range(100):
    evs = core.list_namespaced_event(NS, field_selector="involvedObject.name=unplaced").items
    if evs:
        break
    time.sleep(0.1)
assert [(e.type, e.reason) for e in evs] == [("Warning", "FailedScheduling")], evs
assert "node(s) were not ready" in evs[0].message and evs[0].involved_object.kind == "Pod", evs[0]
cond = [c for c in core.read_namespaced_pod("unplaced", NS).status.conditions if c.type == "PodScheduled"]
assert cond and cond[0].status == "False" and cond[0].reason == "Unschedulable", cond

step("a Deployment through AppsV1Api: scale subresource, ReplicaSets, foreground delete")
tmpl = client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "pyweb"}),
                                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
dep = client.V1Deployment(metadata=client.V1ObjectMeta(name="pyweb"),
                          spec=client.V1DeploymentSpec(replicas=1, selector=client.V1LabelSelector(match_labels={"app": "pyweb"}), template=tmpl))
made = apps.create_namespaced_deployment(NS, dep)
assert made.spec.strategy.type == "RollingUpdate" and made.spec.revision_history_limit == 10, made.spec
apps.patch_namespaced_deployment_scale("pyweb", NS, {"spec": {"replicas": 3}})
assert apps.read_namespaced_deployment_scale("pyweb", NS).spec.replicas == 3
for _ in range(100):
    rss = apps.list_namespaced_replica_set(NS, label_selector="app=pyweb").items
    if len(rss) == 1 and rss[0].spec.replicas == 3 and rss[0].status.replicas == 3:
        break
    time.sleep(0.1)
assert len(rss) == 1 and rss[0].spec.replicas == 3 and rss[0].status.replicas == 3, rss
assert rss[0].metadata.owner_references[0].kind == "Deployment", rss[0].metadata
assert len(core.list_namespaced_pod(NS, label_selector="app=pyweb").items) == 3
apps.delete_namespaced_deployment("pyweb", NS, propagation_policy="Foreground")
assert apps.list_namespaced_replica_set(NS, label_selector="app=pyweb").items == []
assert core.list_namespaced_pod(NS, label_selector="app=pyweb").items == []

step("devices (KubeEdge CRDs) through CustomObjectsApi")
G, V = "devices.kubeedge.io", "v1beta1"
model = {"apiVersion": G + "/" + V, "kind": "DeviceModel", "metadata": {"name": "thermo-model"}, "spec": {"protocol": "modbus"}}
custom.create_namespaced_custom_object(G, V, NS, "devicemodels", model)
dev = {"apiVersion": G + "/" + V, "kind": "Device", "metadata": {"name": "thermo-1"},
       "spec": {"deviceModelRef": {"name": "thermo-model"}, "nodeName": node, "protocol": {"protocolName": "modbus"}}}
custom.create_namespaced_custom_object(G, V, NS, "devices", dev)
got = custom.get_namespaced_custom_object(G, V, NS, "devices", "thermo-1")
assert got["spec"]["nodeName"] == node, got
custom.patch_namespaced_custom_object(G, V, NS, "devices", "thermo-1", {"metadata": {"labels": {"room": "a"}}})
listed = custom.list_namespaced_custom_object(G, V, NS, "devices", label_selector="room=a")
assert [d["metadata"]["name"] for d in listed["items"]] == ["thermo-1"], listed

print("ready-for-cascade", flush=True)
sys.stdin.readline()  # the Rust side checks the edge's cache holds the namespace's objects

step("namespace delete: Terminating, then gone with everything in it")
gone = core.delete_namespace(NS)
assert status_of(lambda: core.read_namespace(NS)) == 404
assert status_of(lambda: core.read_namespaced_config_map("cfg", NS)) == 404
assert status_of(lambda: core.read_namespaced_pod("web", NS)) == 404
assert status_of(lambda: custom.get_namespaced_custom_object(G, V, NS, "devices", "thermo-1")) == 404
assert status_of(lambda: core.delete_namespace("default")) == 403
print("python client: all steps passed", flush=True)
