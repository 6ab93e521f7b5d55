/**
 * docker/kubernetes/: every document of every manifest validated against the Kubernetes OpenAPI schemas
 * (kubernetes-models, generated from the API server's OpenAPI document, compiled to ajv validators), plus a check
 * for unknown fields those schemas do not make (the OpenAPI document sets no additionalProperties: false, so a
 * misspelt `readinesProbe` would pass them, and the API server would silently drop it). Then the manifests are
 * checked against each other and against the server: the configuration the pods would load (image ENV + pod env +
 * the ConfigMap's fedgate.yaml) through the server's own loader, the probe paths against the server's routes, the
 * ports, the network policy's view of the management port, the security context, the grace period, the Secret, the
 * CronJob's arguments (through the real CLI). Last, the Deployment's three probes are asked of a real fedgate
 * started from the pod's configuration (the test DC, a real Redis), serving, with Redis down, and draining.
 * No cluster runs here: schemas and consistency only (docker/kubernetes/README.md says so).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { CronJob } from 'kubernetes-models/batch/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  Namespace,
  PersistentVolumeClaim,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-models/v1';
import { ConfigError, resolveConfig } from '../../server/config/load.ts';
import type { Config } from '../../server/config/schema.ts';
import { ROUTES } from '../../server/http/routes.ts';
import { KeysCliError } from '../../server/cli/keys.ts';
import { startServer } from '../../server/main.ts';
import { LogCapture } from '../helpers/app.ts';
import { startRedis } from '../helpers/redis.ts';
import { sambaEnv, sambaOperatorDirectory } from '../helpers/samba.ts';
import { get, root } from './farm.ts';

const run = promisify(execFile);
const K8S = join(root, 'docker/kubernetes');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

// ---------------------------------------------------------------------------------------------------------
// The manifests

type Obj = Record<string, unknown>;
interface Doc {
  file: string;
  index: number;
  body: Obj;
}

function manifestFiles(dir = K8S): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort();
}

function loadDocs(dir = K8S): Doc[] {
  const out: Doc[] = [];
  for (const file of manifestFiles(dir)) {
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { uniqueKeys: true });
    docs.forEach((d, index) => {
      if (d.errors.length > 0) throw new Error(`${file}#${String(index)}: ${d.errors[0]?.message}`);
      const body = d.toJS() as unknown;
      if (body === null || body === undefined) return; // an empty document (a trailing ---)
      out.push({ file, index, body: body as Obj });
    });
  }
  return out;
}

/** The model class and its .d.ts interface for each kind the manifests may use. */
const MODELS: Record<
  string,
  { model: new (data: never) => { validate(): void }; dts: string; iface: string }
> = {
  'v1/Namespace': { model: Namespace, dts: 'v1/Namespace.d.ts', iface: 'INamespace' },
  'v1/ServiceAccount': {
    model: ServiceAccount,
    dts: 'v1/ServiceAccount.d.ts',
    iface: 'IServiceAccount',
  },
  'v1/ConfigMap': { model: ConfigMap, dts: 'v1/ConfigMap.d.ts', iface: 'IConfigMap' },
  'v1/Secret': { model: Secret, dts: 'v1/Secret.d.ts', iface: 'ISecret' },
  'v1/PersistentVolumeClaim': {
    model: PersistentVolumeClaim,
    dts: 'v1/PersistentVolumeClaim.d.ts',
    iface: 'IPersistentVolumeClaim',
  },
  'v1/Service': { model: Service, dts: 'v1/Service.d.ts', iface: 'IService' },
  'apps/v1/Deployment': { model: Deployment, dts: 'apps/v1/Deployment.d.ts', iface: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    dts: 'policy/v1/PodDisruptionBudget.d.ts',
    iface: 'IPodDisruptionBudget',
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    dts: 'networking.k8s.io/v1/NetworkPolicy.d.ts',
    iface: 'INetworkPolicy',
  },
  'networking.k8s.io/v1/Ingress': {
    model: Ingress,
    dts: 'networking.k8s.io/v1/Ingress.d.ts',
    iface: 'IIngress',
  },
  'batch/v1/CronJob': { model: CronJob, dts: 'batch/v1/CronJob.d.ts', iface: 'ICronJob' },
};

const kindOf = (o: Obj): string => `${String(o.apiVersion)}/${String(o.kind)}`;

// ---------------------------------------------------------------------------------------------------------
// Unknown fields: the OpenAPI types as kubernetes-models generated them (.d.ts), read with the TypeScript checker.

const MODELS_DIR = join(root, 'node_modules/kubernetes-models');
let strictCache: { checker: ts.TypeChecker; types: Map<string, ts.Type> } | undefined;

function strictTypes(): { checker: ts.TypeChecker; types: Map<string, ts.Type> } {
  if (strictCache !== undefined) return strictCache;
  const files = Object.values(MODELS).map((m) => join(MODELS_DIR, m.dts));
  const program = ts.createProgram(files, {
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  });
  const checker = program.getTypeChecker();
  const types = new Map<string, ts.Type>();
  for (const [kind, m] of Object.entries(MODELS)) {
    const sf = program.getSourceFile(join(MODELS_DIR, m.dts));
    assert.ok(sf !== undefined, `kubernetes-models ${m.dts} is installed`);
    const decl = sf.statements.find(
      (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === m.iface,
    );
    assert.ok(decl !== undefined, `${m.dts} declares ${m.iface}`);
    types.set(kind, checker.getTypeAtLocation(decl));
  }
  strictCache = { checker, types };
  return strictCache;
}

/** Fields of `value` that its OpenAPI type does not have, as JSON paths. */
function unknownFields(kind: string, value: unknown): string[] {
  const { checker, types } = strictTypes();
  const top = types.get(kind);
  if (top === undefined) return [`${kind}: no OpenAPI type`];
  const problems: string[] = [];
  const walk = (type: ts.Type, v: unknown, path: string): void => {
    if (v === null || v === undefined || typeof v !== 'object') return;
    let t = checker.getNonNullableType(type);
    if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (Array.isArray(v)) {
      const arr = t.isUnion() ? t.types.find((x) => checker.isArrayType(x)) : t;
      if (arr === undefined || !checker.isArrayType(arr)) return; // the schema's own type check reports it
      const el = checker.getTypeArguments(arr as ts.TypeReference)[0];
      if (el !== undefined)
        v.forEach((x, i) => {
          walk(el, x, `${path}[${String(i)}]`);
        });
      return;
    }
    if (t.isUnion()) {
      const objects = t.types.filter((x) => x.flags & ts.TypeFlags.Object);
      if (objects.length !== 1 || objects[0] === undefined) return;
      t = objects[0];
    }
    const index = checker.getIndexInfosOfType(t);
    for (const [k, child] of Object.entries(v as Obj)) {
      const prop = checker.getPropertyOfType(t, k);
      if (prop === undefined) {
        if (index.length === 0) problems.push(`${path}.${k}: unknown field`);
        else if (index[0] !== undefined) walk(index[0].type, child, `${path}.${k}`);
        continue;
      }
      walk(checker.getTypeOfSymbol(prop), child, `${path}.${k}`);
    }
  };
  walk(top, value, '');
  return problems;
}

/** Every problem of one document: unknown kind, the OpenAPI schema's verdict, unknown fields. */
function validateDoc(body: Obj): string[] {
  const m = MODELS[kindOf(body)];
  if (m === undefined) return [`${kindOf(body)}: not a kind these manifests use`];
  const problems: string[] = [];
  try {
    new m.model(structuredClone(body) as never).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  problems.push(...unknownFields(kindOf(body), body));
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// Accessors (the manifests as the cluster would see them)

function one(docs: Doc[], kind: string, name?: string): Obj {
  const found = docs.filter(
    (d) =>
      kindOf(d.body) === kind &&
      (name === undefined || (d.body.metadata as Obj | undefined)?.name === name),
  );
  assert.equal(found.length, 1, `exactly one ${kind}${name === undefined ? '' : ` ${name}`}`);
  return (found[0] as Doc).body;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: Obj;
  resources?: { requests?: Obj; limits?: Obj };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: Obj;
  volumes?: Obj[];
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  topologySpreadConstraints?: Obj[];
  restartPolicy?: string;
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: PodSpec;
}

const deploymentPod = (docs: Doc[]): PodTemplate =>
  (one(docs, 'apps/v1/Deployment').spec as { template: PodTemplate }).template;
const cronPod = (docs: Doc[]): PodTemplate =>
  (one(docs, 'batch/v1/CronJob').spec as { jobTemplate: { spec: { template: PodTemplate } } })
    .jobTemplate.spec.template;
const only = <T>(xs: T[] | undefined, what: string): T => {
  const x = xs?.[0];
  assert.ok(xs?.length === 1 && x !== undefined, `one ${what}`);
  return x;
};

/** The image's runtime ENV, from docker/Dockerfile (the defaults a pod starts with). */
function imageEnv(): Record<string, string> {
  const text = readFileSync(join(root, 'docker/Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => l.startsWith('ENV ')))
    for (const m of line.slice(4).matchAll(/([A-Z0-9_]+)=(\S+)/g))
      if (m[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  return env;
}

/** The image's VOLUME paths. */
function imageVolumes(): string[] {
  const text = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
  return [...text.matchAll(/^VOLUME (\[.*\])$/gm)].flatMap(
    (m) => JSON.parse(m[1] ?? '[]') as string[],
  );
}

function secretData(docs: Doc[]): Record<string, string> {
  const s = one(docs, 'v1/Secret', 'fedgate-secrets') as { stringData?: Record<string, string> };
  return s.stringData ?? {};
}

/**
 * What the kubelet puts in the container's environment: the image's ENV, then the pod's env (secret references
 * resolved from `secrets`).
 */
function podEnv(c: Container, secrets: (key: string) => string): Record<string, string> {
  const env = { ...imageEnv() };
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    env[e.name] = ref !== undefined ? secrets(ref.key) : (e.value ?? '');
  }
  return env;
}

function configMapYaml(docs: Doc[]): string {
  const cm = one(docs, 'v1/ConfigMap', 'fedgate-config') as { data: Record<string, string> };
  const text = cm.data['fedgate.yaml'];
  assert.ok(text !== undefined, 'fedgate-config holds fedgate.yaml');
  return text;
}

/** Syntactically valid stand-ins for the Secret's values (the template's own placeholders are refused on purpose). */
const PLACEHOLDER = (key: string): string => `placeholder-${key}-`.padEnd(48, 'x');

/** The configuration a pod of `pod` would load, through the server's own loader. */
function podConfig(docs: Doc[], pod: PodTemplate, secrets: (key: string) => string): Config {
  const c = pod.spec.containers[0] as Container;
  const env = podEnv(c, secrets);
  const file = env.FEDGATE_CONFIG ?? '';
  const dir = file.slice(0, file.lastIndexOf('/'));
  return resolveConfig(parse(configMapYaml(docs), { uniqueKeys: true }) as unknown, {
    env,
    baseDir: dir,
    source: `configmap fedgate-config (${file})`,
    embeddedDefaults: false,
  });
}

const portOf = (c: Container, name: string | number): number => {
  if (typeof name === 'number') return name;
  const p = c.ports?.find((x) => x.name === name);
  assert.ok(p !== undefined, `container port ${name}`);
  return p.containerPort;
};

// ---------------------------------------------------------------------------------------------------------

test('every document of every manifest passes the Kubernetes OpenAPI schema and has no unknown field', (t) => {
  const docs = loadDocs();
  assert.ok(docs.length >= 10, 'the manifests were found');
  for (const d of docs)
    assert.deepEqual(validateDoc(d.body), [], `${d.file}#${String(d.index)} ${kindOf(d.body)}`);
  const kinds = new Set(docs.map((d) => kindOf(d.body)));
  for (const k of [
    'apps/v1/Deployment',
    'policy/v1/PodDisruptionBudget',
    'v1/Service',
    'networking.k8s.io/v1/NetworkPolicy',
    'v1/Secret',
    'v1/ConfigMap',
    'batch/v1/CronJob',
  ])
    assert.ok(kinds.has(k), `a ${k}`);
  t.diagnostic(
    `${String(docs.length)} documents in ${String(manifestFiles().length)} files validated`,
  );
});

test('the validator is not vacuous: a wrong type, an unknown field and a missing required field are each refused', () => {
  const base = one(loadDocs(), 'apps/v1/Deployment');
  const mutate = (f: (d: { spec: Obj & { template: PodTemplate } }) => void): string[] => {
    const copy = structuredClone(base) as { spec: Obj & { template: PodTemplate } };
    f(copy);
    return validateDoc(copy);
  };
  assert.deepEqual(validateDoc(base), []);
  const wrongType = mutate((d) => {
    d.spec.replicas = 'three';
  });
  assert.ok(
    wrongType.some((p) => p.includes('/spec/replicas')),
    wrongType.join('; '),
  );
  const unknown = mutate((d) => {
    const c = d.spec.template.spec.containers[0] as Container & Obj;
    c.readinesProbe = c.readinessProbe;
    delete c.readinessProbe;
  });
  assert.deepEqual(unknown, ['.spec.template.spec.containers[0].readinesProbe: unknown field']);
  const missing = mutate((d) => {
    delete d.spec.selector;
  });
  assert.ok(
    missing.some((p) => p.includes('required property selector')),
    missing.join('; '),
  );
  // Deeper down and in other kinds: the misspellings the API server would drop without a word.
  const docs = loadDocs();
  const cron = structuredClone(one(docs, 'batch/v1/CronJob')) as {
    spec: { jobTemplate: { spec: { template: PodTemplate } } };
  };
  const sc = (cron.spec.jobTemplate.spec.template.spec.containers[0] as Container)
    .securityContext as Obj;
  sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
  delete sc.readOnlyRootFilesystem;
  assert.deepEqual(validateDoc(cron as unknown as Obj), [
    '.spec.jobTemplate.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field',
  ]);
  const policy = structuredClone(
    one(docs, 'networking.k8s.io/v1/NetworkPolicy', 'fedgate-server'),
  ) as {
    metadata: Obj;
    spec: { ingress: { ports: Obj[] }[] };
  };
  policy.metadata.lables = policy.metadata.labels;
  (policy.spec.ingress[1] as { ports: Obj[] }).ports[0] = { protocol: 'TCP', prot: 9090 };
  assert.deepEqual(validateDoc(policy as unknown as Obj), [
    '.metadata.lables: unknown field',
    '.spec.ingress[1].ports[0].prot: unknown field',
  ]);
  // Free-form maps (labels, ConfigMap data) stay free-form.
  const labels = mutate((d) => {
    d.spec.template.metadata.labels['example.test/anything'] = 'x';
  });
  assert.deepEqual(labels, []);
});

test('kustomization.yaml lists every manifest file, each once, and sets the namespace and image', () => {
  const k = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'), { uniqueKeys: true }) as {
    apiVersion: string;
    kind: string;
    namespace: string;
    resources: string[];
    images: { name: string; newName?: string; newTag?: string }[];
  };
  assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.equal(k.kind, 'Kustomization');
  assert.deepEqual([...k.resources].sort(), manifestFiles());
  assert.equal(new Set(k.resources).size, k.resources.length);
  const docs = loadDocs();
  for (const d of docs) {
    const meta = d.body.metadata as { name: string; namespace?: string };
    if (kindOf(d.body) === 'v1/Namespace') assert.equal(meta.name, k.namespace);
    else assert.equal(meta.namespace, k.namespace, `${d.file} ${meta.name} namespace`);
  }
  const image = only(k.images, 'image entry');
  assert.equal(image.newTag, pkg.version, 'image tag: fedgate version');
  for (const pod of [deploymentPod(docs), cronPod(docs)])
    for (const c of pod.spec.containers) assert.equal(c.image, `${image.name}:${pkg.version}`);
});

test('the ConfigMap fedgate.yaml, with the image ENV and the pod env, loads with the server schema', () => {
  const docs = loadDocs();
  const pod = deploymentPod(docs);
  const c = only(pod.spec.containers, 'fedgate container');
  const config = podConfig(docs, pod, PLACEHOLDER);
  assert.equal(config.listen.tls, 'off');
  assert.equal(config.directory.kind, 'ldap');
  assert.equal(config.store.kind, 'redis');
  // The secrets arrive from the Secret, not from the file.
  assert.deepEqual(config.session.secrets, [PLACEHOLDER('session-secrets')]);
  assert.deepEqual(config.mfa.secrets, [PLACEHOLDER('mfa-secrets')]);
  assert.equal(config.keys.passphrase, PLACEHOLDER('keys-passphrase'));
  assert.equal(config.store.password, PLACEHOLDER('redis-password'));
  assert.equal(config.directory.bindPassword, PLACEHOLDER('bind-password'));
  // The file says what the image's ENV says (the ENV wins; a file saying otherwise would mislead its reader).
  const file = parse(configMapYaml(docs)) as {
    listen: { port: number };
    management: { port: number; host: string };
    keys: { dir: string };
  };
  const img = imageEnv();
  assert.equal(String(file.listen.port), img.FEDGATE_LISTEN__PORT);
  assert.equal(String(file.management.port), img.FEDGATE_MANAGEMENT__PORT);
  assert.equal(file.keys.dir, config.keys.dir, 'the pod env and the file name the same keys.dir');
  // The config file is where the ConfigMap is mounted.
  const env = podEnv(c, PLACEHOLDER);
  const mount = c.volumeMounts?.find((m) => m.name === 'config');
  assert.equal(env.FEDGATE_CONFIG, `${mount?.mountPath ?? '?'}/fedgate.yaml`);
  assert.equal(mount?.readOnly, true);
  const vol = pod.spec.volumes?.find((v) => v.name === 'config') as
    { configMap?: { name: string } } | undefined;
  assert.equal(vol?.configMap?.name, 'fedgate-config');
  // Every CA file the configuration names is a key of the CA ConfigMap, mounted where the file says.
  const ca = one(docs, 'v1/ConfigMap', 'fedgate-ca') as { data: Record<string, string> };
  const caMount = c.volumeMounts?.find((m) => m.name === 'ca')?.mountPath;
  const caFiles = [config.directory.tls.ca, config.store.tls?.ca];
  for (const f of caFiles) {
    assert.ok(f !== undefined && caMount !== undefined && f.startsWith(`${caMount}/`), String(f));
    assert.ok(f.slice(caMount.length + 1) in ca.data, `${f} is in fedgate-ca`);
  }
});

test('the Secret template fails closed: its placeholders are refused by the configuration schema', () => {
  const docs = loadDocs();
  const data = secretData(docs);
  const refs = new Set<string>();
  for (const pod of [deploymentPod(docs), cronPod(docs)])
    for (const e of pod.spec.containers.flatMap((x) => x.env ?? [])) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref === undefined) continue;
      assert.equal(ref.name, 'fedgate-secrets');
      assert.ok(ref.key in data, `the Secret has ${ref.key}`);
      refs.add(ref.key);
    }
  assert.deepEqual([...refs].sort(), Object.keys(data).sort(), 'every Secret key is used');
  for (const v of Object.values(data))
    assert.match(v, /^REPLACE_ME$/, 'a placeholder, never a value');
  const pod = deploymentPod(docs);
  assert.throws(
    () =>
      podConfig(docs, pod, (k) => {
        const v = data[k];
        assert.ok(v !== undefined);
        return v;
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.problems.map((p) => p.split(':')[0]);
      for (const p of ['session.secrets.0', 'mfa.secrets.0', 'keys.passphrase'])
        assert.ok(paths.includes(p), `${p} refused: ${err.problems.join('; ')}`);
      return true;
    },
  );
});

test('probes: /adfs/probe on the main port for readiness, /healthz/* on the management port', () => {
  const docs = loadDocs();
  const pod = deploymentPod(docs);
  const c = only(pod.spec.containers, 'fedgate container');
  const config = podConfig(docs, pod, PLACEHOLDER);
  const mgmt = config.management.port;
  assert.ok(mgmt !== undefined && mgmt !== config.listen.port, 'a separate management listener');
  assert.equal(config.management.host, '0.0.0.0', 'the kubelet reaches the pod address');
  const probe = (p: Probe | undefined, what: string): { path: string; port: number } => {
    assert.ok(p?.httpGet !== undefined, `${what} is an HTTP probe`);
    return { path: p.httpGet.path, port: portOf(c, p.httpGet.port) };
  };
  // Readiness is the load-balancer probe (503 from the first moment of the drain, no back-end dependency).
  assert.deepEqual(probe(c.readinessProbe, 'readiness'), {
    path: ROUTES.probe,
    port: config.listen.port,
  });
  // Liveness: the process answers.
  assert.deepEqual(probe(c.livenessProbe, 'liveness'), { path: ROUTES.healthLive, port: mgmt });
  // Startup: keys, store and a DC, once, before the pod can become ready.
  assert.deepEqual(probe(c.startupProbe, 'startup'), { path: ROUTES.healthReady, port: mgmt });
  // The image's own HEALTHCHECK (which Kubernetes ignores) asks the same path.
  assert.match(
    readFileSync(join(root, 'docker/Dockerfile'), 'utf8'),
    new RegExp(`^HEALTHCHECK .*\\n.*${ROUTES.healthLive}`, 'm'),
  );
  // The readiness probe notices the drain well within shutdown.drainDelayMs.
  const r = c.readinessProbe as Probe;
  const noticeMs = (r.periodSeconds ?? 10) * (r.failureThreshold ?? 3) * 1000;
  assert.ok(noticeMs < config.shutdown.drainDelayMs, `${String(noticeMs)} ms < drain delay`);
});

test('grace period above drain + timeout (+ log flush) from the ConfigMap; rollout and disruption budget', (t) => {
  const docs = loadDocs();
  const pod = deploymentPod(docs);
  const config = podConfig(docs, pod, PLACEHOLDER);
  const flush = (config.log as { flushTimeoutMs?: number }).flushTimeoutMs ?? 0;
  const needMs = config.shutdown.drainDelayMs + config.shutdown.timeoutMs + flush;
  const grace = pod.spec.terminationGracePeriodSeconds;
  assert.ok(
    grace !== undefined && grace * 1000 > needMs,
    `${String(grace)} s > ${String(needMs)} ms`,
  );
  t.diagnostic(`grace ${String(grace)} s; drain+timeout+flush ${String(needMs)} ms`);
  const d = one(docs, 'apps/v1/Deployment').spec as {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    strategy: { rollingUpdate: { maxUnavailable: number } };
  };
  assert.equal(d.replicas, 3);
  assert.equal(d.strategy.rollingUpdate.maxUnavailable, 0);
  const labels = pod.metadata.labels;
  for (const [k, v] of Object.entries(d.selector.matchLabels)) assert.equal(labels[k], v);
  const pdb = one(docs, 'policy/v1/PodDisruptionBudget').spec as {
    maxUnavailable: number;
    selector: { matchLabels: Record<string, string> };
  };
  assert.deepEqual(pdb.selector.matchLabels, d.selector.matchLabels);
  assert.ok(pdb.maxUnavailable >= 1 && pdb.maxUnavailable < d.replicas - 1);
  // Spread over nodes (hard) and zones (soft), by the same labels.
  const spread = pod.spec.topologySpreadConstraints as {
    topologyKey: string;
    whenUnsatisfiable: string;
    labelSelector: { matchLabels: Record<string, string> };
  }[];
  const host = spread.find((s) => s.topologyKey === 'kubernetes.io/hostname');
  assert.equal(host?.whenUnsatisfiable, 'DoNotSchedule');
  assert.ok(spread.some((s) => s.topologyKey === 'topology.kubernetes.io/zone'));
  for (const s of spread) assert.deepEqual(s.labelSelector.matchLabels, d.selector.matchLabels);
});

test('security context: non-root uid 1000 (the image user), read-only root, no capabilities, seccomp', () => {
  const docs = loadDocs();
  const dockerfile = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
  // node:*-slim's `node` user is uid 1000; the image names it, so the pod must give the number for runAsNonRoot.
  assert.match(dockerfile, /^USER node$/m);
  for (const [what, pod] of [
    ['deployment', deploymentPod(docs)],
    ['cronjob', cronPod(docs)],
  ] as const) {
    const s = pod.spec;
    assert.equal(s.enableServiceLinks, false, `${what}: no FEDGATE_* service-link variables`);
    assert.equal(s.automountServiceAccountToken, false, `${what}: no API token`);
    assert.equal(s.serviceAccountName, 'fedgate');
    assert.deepEqual(
      {
        runAsNonRoot: s.securityContext?.runAsNonRoot,
        runAsUser: s.securityContext?.runAsUser,
        seccomp: (s.securityContext?.seccompProfile as Obj | undefined)?.type,
      },
      { runAsNonRoot: true, runAsUser: 1000, seccomp: 'RuntimeDefault' },
      what,
    );
    for (const c of s.containers) {
      const sc = c.securityContext as {
        runAsNonRoot?: boolean;
        runAsUser?: number;
        allowPrivilegeEscalation?: boolean;
        readOnlyRootFilesystem?: boolean;
        privileged?: boolean;
        capabilities?: { drop?: string[]; add?: string[] };
        seccompProfile?: { type: string };
      };
      assert.equal(sc.allowPrivilegeEscalation, false, `${what}/${c.name}`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${what}/${c.name}`);
      assert.notEqual(sc.privileged, true);
      assert.deepEqual(sc.capabilities?.drop, ['ALL']);
      assert.equal(sc.capabilities.add, undefined);
      assert.ok(sc.runAsNonRoot !== false && (sc.runAsUser ?? 1000) === 1000);
      assert.ok(
        c.resources?.requests?.memory !== undefined && c.resources.limits?.memory !== undefined,
      );
      // /tmp writable (the only writable place besides keys.dir), from an emptyDir.
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      const vol = s.volumes?.find((v) => v.name === tmp?.name);
      assert.ok(vol !== undefined && 'emptyDir' in vol, `${what}/${c.name}: /tmp is an emptyDir`);
      // The shared claim is mounted exactly at the image's VOLUME (a runtime puts an anonymous per-pod volume on
      // a VOLUME path nothing is mounted at, e.g. containerd), and keys.dir is a directory inside it, so fedgate
      // creates and owns it and its 0700 check (keys/store.ts ensurePrivateDir) holds whoever owns the volume root.
      const config = podConfig(docs, pod, PLACEHOLDER);
      const keys = c.volumeMounts?.find((m) => m.name === 'keys');
      assert.ok(
        keys !== undefined && imageVolumes().includes(keys.mountPath),
        `${what}: keys mount`,
      );
      assert.ok(
        config.keys.dir.startsWith(`${keys.mountPath}/`),
        `${what}: keys.dir inside the volume`,
      );
      for (const m of c.volumeMounts ?? [])
        assert.ok(
          !config.keys.dir.startsWith(`${m.mountPath}/`) || m === keys || m.mountPath === '/',
          `${what}: no other mount over keys.dir (${m.mountPath})`,
        );
      const kv = s.volumes?.find((v) => v.name === keys.name) as
        { persistentVolumeClaim?: { claimName: string } } | undefined;
      assert.equal(kv?.persistentVolumeClaim?.claimName, 'fedgate-keys', `${what}: keys volume`);
    }
  }
  const pvc = one(docs, 'v1/PersistentVolumeClaim', 'fedgate-keys').spec as {
    accessModes: string[];
  };
  assert.deepEqual(
    pvc.accessModes,
    ['ReadWriteMany'],
    'one ring shared by every pod and the CronJob',
  );
  // The namespace enforces what these pods do (Pod Security Admission, restricted).
  const ns = one(docs, 'v1/Namespace').metadata as { labels: Record<string, string> };
  assert.equal(ns.labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('why enableServiceLinks is false: the service-link variables of the Service would stop the server', () => {
  const docs = loadDocs();
  const svc = one(docs, 'v1/Service');
  const name = String((svc.metadata as Obj).name)
    .toUpperCase()
    .replace(/-/g, '_');
  const port = (svc.spec as { ports: { name: string; port: number }[] }).ports[0];
  assert.ok(port !== undefined);
  // What the kubelet would inject (Docker-links style) for this Service with service links on.
  const links: Record<string, string> = {
    [`${name}_SERVICE_HOST`]: '10.96.0.10',
    [`${name}_SERVICE_PORT`]: String(port.port),
    [`${name}_SERVICE_PORT_${port.name.toUpperCase()}`]: String(port.port),
    [`${name}_PORT`]: `tcp://10.96.0.10:${String(port.port)}`,
  };
  const pod = deploymentPod(docs);
  const withLinks: PodTemplate = structuredClone(pod);
  const c = withLinks.spec.containers[0] as Container;
  c.env = [...(c.env ?? []), ...Object.entries(links).map(([n, value]) => ({ name: n, value }))];
  assert.throws(() => podConfig(docs, withLinks, PLACEHOLDER), ConfigError);
});

test('the Service publishes the main port only; the management port is not in it', () => {
  const docs = loadDocs();
  const pod = deploymentPod(docs);
  const c = only(pod.spec.containers, 'fedgate container');
  const config = podConfig(docs, pod, PLACEHOLDER);
  const svc = one(docs, 'v1/Service').spec as {
    type?: string;
    selector: Record<string, string>;
    ports: { port: number; targetPort: string | number }[];
  };
  assert.ok(svc.type === undefined || svc.type === 'ClusterIP');
  for (const [k, v] of Object.entries(svc.selector)) assert.equal(pod.metadata.labels[k], v);
  const targets = svc.ports.map((p) => portOf(c, p.targetPort));
  const allowed = [config.listen.port];
  if (config.certificateAuth.enabled && config.certificateAuth.port !== 'off')
    allowed.push(config.certificateAuth.port);
  assert.deepEqual(
    targets.filter((t) => !allowed.includes(t)),
    [],
    'public ports only',
  );
  assert.ok(targets.includes(config.listen.port));
  assert.ok(!targets.includes(config.management.port ?? -1), 'management port not published');
  assert.ok(!svc.ports.some((p) => p.port === config.management.port));
});

test('the Ingress routes every public path of the server to the Service, and no operations path', () => {
  const docs = loadDocs();
  const config = podConfig(docs, deploymentPod(docs), PLACEHOLDER);
  const svc = one(docs, 'v1/Service') as {
    metadata: { name: string };
    spec: { ports: { name: string }[] };
  };
  const ing = one(docs, 'networking.k8s.io/v1/Ingress').spec as {
    tls: { hosts: string[]; secretName: string }[];
    rules: {
      host: string;
      http: {
        paths: {
          path: string;
          pathType: string;
          backend: { service: { name: string; port: { name?: string } } };
        }[];
      };
    }[];
  };
  const rule = only(ing.rules, 'Ingress rule');
  assert.equal(rule.host, config.hostname);
  assert.equal(new URL(config.publicUrl).hostname, config.hostname);
  assert.ok(
    ing.tls.some((x) => x.hosts.includes(config.hostname)),
    'TLS for the public name',
  );
  for (const p of rule.http.paths) {
    assert.equal(p.pathType, 'Prefix');
    assert.equal(p.backend.service.name, svc.metadata.name);
    assert.ok(svc.spec.ports.some((x) => x.name === p.backend.service.port.name));
  }
  // Prefix matching is by whole path elements (Kubernetes Ingress semantics).
  const routed = (path: string): boolean =>
    rule.http.paths.some(
      (p) => path === p.path || path.startsWith(`${p.path.replace(/\/$/, '')}/`),
    );
  const internal: string[] = [ROUTES.healthLive, ROUTES.healthReady, ROUTES.metrics];
  for (const [name, path] of Object.entries(ROUTES))
    assert.equal(routed(path), !internal.includes(path), `${name} ${path}`);
});

interface Peer {
  namespaceSelector?: { matchLabels?: Record<string, string> };
  podSelector?: { matchLabels?: Record<string, string> };
  ipBlock?: { cidr: string };
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: { protocol?: string; port?: number | string }[];
}
interface Policy {
  metadata: { name: string };
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: string[];
    ingress?: Rule[];
    egress?: Rule[];
  };
}

const selects = (p: Policy, labels: Record<string, string>): boolean =>
  Object.entries(p.spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
/** The peers the union of policies admits to `port` of pods with `labels` (a rule with no ports admits every port). */
function admitted(
  policies: Policy[],
  labels: Record<string, string>,
  dir: 'ingress' | 'egress',
  port: number,
): Peer[] {
  const peers: Peer[] = [];
  for (const p of policies.filter((x) => selects(x, labels)))
    for (const r of p.spec[dir] ?? [])
      if (r.ports === undefined || r.ports.some((x) => x.port === undefined || x.port === port))
        peers.push(...((dir === 'ingress' ? r.from : r.to) ?? [{}]));
  return peers;
}

test('NetworkPolicy: management port only from the monitoring namespace Prometheus; egress DNS, DCs, Redis', () => {
  const docs = loadDocs();
  const pod = deploymentPod(docs);
  const config = podConfig(docs, pod, PLACEHOLDER);
  const policies = docs
    .filter((d) => kindOf(d.body) === 'networking.k8s.io/v1/NetworkPolicy')
    .map((d) => d.body as unknown as Policy);
  // Default deny in both directions for every pod of the namespace.
  assert.ok(
    policies.some(
      (p) =>
        Object.keys(p.spec.podSelector.matchLabels ?? {}).length === 0 &&
        p.spec.policyTypes.includes('Ingress') &&
        p.spec.policyTypes.includes('Egress') &&
        p.spec.ingress === undefined &&
        p.spec.egress === undefined,
    ),
    'default deny',
  );
  const labels = pod.metadata.labels;
  const mgmt = config.management.port ?? -1;
  assert.deepEqual(admitted(policies, labels, 'ingress', mgmt), [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
    },
  ]);
  assert.deepEqual(admitted(policies, labels, 'ingress', config.listen.port), [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
    },
  ]);
  // Nothing else gets in on any other port (every ingress rule names its ports).
  for (const p of policies.filter((x) => selects(x, labels)))
    for (const r of p.spec.ingress ?? []) assert.ok(r.ports !== undefined && r.ports.length > 0);
  // Egress: exactly DNS, the DCs' LDAPS port and Redis's port (as the configuration's URLs say).
  const portOfUrl = (u: string, dflt: number): number => Number(new URL(u).port || dflt);
  assert.ok(config.directory.kind === 'ldap' && config.store.kind === 'redis');
  const dcPorts = new Set(config.directory.urls.map((u) => portOfUrl(u, 636)));
  const redisPort = portOfUrl(config.store.url, 6379);
  const egressPorts = (l: Record<string, string>): string[] =>
    policies
      .filter((x) => selects(x, l))
      .flatMap((p) => p.spec.egress ?? [])
      .flatMap((r) => {
        assert.ok(r.ports !== undefined, 'every egress rule names its ports');
        return r.ports.map((x) => `${x.protocol ?? 'TCP'}/${String(x.port)}`);
      })
      .sort();
  assert.deepEqual(
    egressPorts(labels),
    [
      'TCP/53',
      'UDP/53',
      ...[...dcPorts].map((p) => `TCP/${String(p)}`),
      `TCP/${String(redisPort)}`,
    ].sort(),
  );
  const dns = admitted(policies, labels, 'egress', 53);
  assert.deepEqual(dns, [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    },
  ]);
  // The rollover job: no way in, out to DNS and Redis only.
  const cron = cronPod(docs).metadata.labels;
  assert.ok(policies.some((p) => selects(p, cron) && p.spec.policyTypes.includes('Ingress')));
  assert.deepEqual(admitted(policies, cron, 'ingress', mgmt), []);
  assert.deepEqual(admitted(policies, cron, 'ingress', config.listen.port), []);
  assert.deepEqual(egressPorts(cron), ['TCP/53', 'UDP/53', `TCP/${String(redisPort)}`].sort());
});

test('CronJob: `keys rollover --if-due` on the same keys, Redis and configuration as the servers', async () => {
  const docs = loadDocs();
  const cj = one(docs, 'batch/v1/CronJob').spec as {
    schedule: string;
    concurrencyPolicy: string;
    jobTemplate: {
      spec: {
        podFailurePolicy?: {
          rules: { action: string; onExitCodes?: { containerName?: string; values: number[] } }[];
        };
      };
    };
  };
  assert.equal(cj.concurrencyPolicy, 'Forbid');
  const pod = cronPod(docs);
  assert.equal(pod.spec.restartPolicy, 'Never');
  const c = only(pod.spec.containers, 'rollover container');
  assert.deepEqual(c.args, ['keys', 'rollover', '--if-due']);
  // Only "refused" (bad configuration or ring: a retry cannot help) fails the Job at once; busy is retried.
  const failJob = cj.jobTemplate.spec.podFailurePolicy?.rules.find((r) => r.action === 'FailJob');
  assert.deepEqual(failJob?.onExitCodes?.values, [new KeysCliError('refused').exitCode]);
  assert.equal(failJob.onExitCodes.containerName, c.name);
  assert.ok(!failJob.onExitCodes.values.includes(new KeysCliError('busy', 3).exitCode));
  // The same configuration, keys directory, store and key passphrase as the servers.
  const server = podConfig(docs, deploymentPod(docs), PLACEHOLDER);
  const job = podConfig(docs, pod, PLACEHOLDER);
  assert.equal(job.keys.dir, server.keys.dir);
  assert.equal(job.keys.passphrase, server.keys.passphrase);
  assert.deepEqual(job.store, server.store);
  assert.deepEqual(job.keys.rollover, server.keys.rollover);
  // Least privilege: the job gets no session, MFA or directory secret.
  assert.equal(job.session.secrets, undefined);
  assert.equal(job.mfa.secrets, undefined);
  // The real CLI accepts exactly these arguments: on an empty keys.dir it refuses (exit 2, nothing written) for
  // want of a ring, not for a usage error.
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-k8s-'));
  try {
    const cfg = join(dir, 'fedgate.yaml');
    writeFileSync(cfg, `keys: { dir: ${join(dir, 'keys')} }\nstore: { kind: memory }\n`);
    const r = await run(
      process.execPath,
      ['--import', 'tsx', join(root, 'server/cli/main.ts'), ...(c.args ?? []), '--config', cfg],
      { cwd: root, env: { PATH: process.env.PATH ?? '' } },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (err: unknown) => {
        const e = err as { code?: number; stderr?: string };
        return { code: e.code, stderr: e.stderr ?? '' };
      },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /holds no token-signing key yet/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the probes ask a real server what the manifests assume: readiness ignores back ends, startup does not', async (t) => {
  // The pod's own configuration (ConfigMap + image ENV + pod env), with only what is specific to a cluster
  // replaced by this machine's parts: the test DC, a real Redis, free loopback ports, a temporary keys.dir.
  const docs = loadDocs();
  const pod = deploymentPod(docs);
  const c = only(pod.spec.containers, 'fedgate container');
  const podCfg = podConfig(docs, pod, PLACEHOLDER);
  const samba = sambaEnv();
  const redis = await startRedis({ password: PLACEHOLDER('redis-password') });
  const dir = mkdtempSync(join(tmpdir(), 'fedgate-k8s-serve-'));
  const file = parse(configMapYaml(docs)) as Obj & { store: Obj };
  delete file.store.tls; // the test Redis speaks plain TCP on loopback
  const env = {
    ...podEnv(c, PLACEHOLDER),
    FEDGATE_LISTEN__HOST: '127.0.0.1',
    FEDGATE_LISTEN__PORT: '0',
    FEDGATE_MANAGEMENT__HOST: '127.0.0.1',
    FEDGATE_MANAGEMENT__PORT: '0',
    FEDGATE_KEYS__DIR: join(dir, 'keys'),
    FEDGATE_STORE__URL: `redis://127.0.0.1:${String(redis.port)}`,
    FEDGATE_DIRECTORY: JSON.stringify(sambaOperatorDirectory(samba)),
    FEDGATE_DIRECTORY__BINDPASSWORD: samba.bindPassword,
  };
  const config = resolveConfig(file, {
    env,
    baseDir: dir,
    source: 'configmap fedgate-config, on this machine',
    embeddedDefaults: false,
  });
  const running = await startServer(config, { logDestination: new LogCapture() });
  try {
    const mgmtPort = running.management?.port;
    assert.ok(mgmtPort !== undefined);
    const url = (p: Probe | undefined): string => {
      assert.ok(p?.httpGet !== undefined);
      const port = portOf(c, p.httpGet.port);
      const real =
        port === podCfg.listen.port
          ? running.port
          : port === podCfg.management.port
            ? mgmtPort
            : assert.fail(`probe port ${String(port)} is neither listener`);
      return `http://127.0.0.1:${String(real)}${p.httpGet.path}`;
    };
    const status = async (p: Probe | undefined): Promise<number> => (await get(url(p))).status;
    const all = async (): Promise<Record<string, number>> => ({
      startup: await status(c.startupProbe),
      readiness: await status(c.readinessProbe),
      liveness: await status(c.livenessProbe),
    });
    // Serving: keys loaded, Redis answers, the DC is healthy.
    assert.deepEqual(await all(), { startup: 200, readiness: 200, liveness: 200 });
    // Metrics (what the management port exists for) are not on the public port.
    assert.equal(
      (await get(`http://127.0.0.1:${String(running.port)}${ROUTES.metrics}`)).status,
      404,
    );
    assert.equal((await get(`http://127.0.0.1:${String(mgmtPort)}${ROUTES.metrics}`)).status, 200);
    // Redis down: a running pod stays in the Service and alive (sign-ins answer 503 themselves); a pod starting
    // now would not pass its startup probe.
    await redis.stop();
    assert.deepEqual(await all(), { startup: 503, readiness: 200, liveness: 200 });
    // SIGTERM's drain: out of the Service at once, never restarted for it.
    running.services.lifecycle.startDraining();
    const draining = await all();
    assert.equal(draining.readiness, 503);
    assert.equal(draining.liveness, 200);
    t.diagnostic(`probe answers while draining with Redis down: ${JSON.stringify(draining)}`);
  } finally {
    await running.stop();
    await redis.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
