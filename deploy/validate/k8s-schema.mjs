// Schema check of Kubernetes manifests against the Kubernetes OpenAPI schemas (compiled into validators by
// the kubernetes-models package): required fields, types, formats (quantities, int-or-string) and enums of
// every object, for every document of every *.yaml under the given directories (default: deploy/k8s).
// Unknown fields (typos) are caught by tests/RecService.Deploy.Tests, which loads the same files strictly.
//
//   node deploy/validate/k8s-schema.mjs [DIR...]      exit 0: all valid; 1: errors (listed); 2: usage/IO
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative, basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const dirs = process.argv.slice(2).length ? process.argv.slice(2) : [join(here, "..", "k8s")];

function yamlFiles(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

// "apps/v1" + "Deployment" -> kubernetes-models/apps/v1/Deployment; "v1" + "Service" -> kubernetes-models/v1/Service.
async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const path = `${apiVersion}/${kind}`;
  try {
    const mod = await import(`kubernetes-models/${path}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

let errors = 0;
let objects = 0;
const fail = (where, message) => {
  errors++;
  console.log(`FAIL ${where}: ${message}`);
};

for (const dir of dirs) {
  if (!existsSync(dir)) {
    console.error(`no such directory: ${dir}`);
    process.exit(2);
  }
  for (const file of yamlFiles(dir)) {
    const name = relative(process.cwd(), file);
    const text = readFileSync(file, "utf8");
    const docs = parseAllDocuments(text, { strict: true, uniqueKeys: true, prettyErrors: true });
    if (!Array.isArray(docs)) {
      fail(name, "not a YAML stream");
      continue;
    }
    if (basename(file) === "kustomization.yaml") {
      // Not an API object: check that it is a Kustomization whose resources all exist.
      const k = docs[0]?.toJS();
      if (docs.some((d) => d.errors.length)) fail(name, docs.flatMap((d) => d.errors.map((e) => e.message)).join("; "));
      else if (k?.kind !== "Kustomization") fail(name, "kind must be Kustomization");
      else for (const r of k.resources ?? []) if (!existsSync(join(dirname(file), r))) fail(name, `resource ${r} does not exist`);
      continue;
    }
    for (const [i, doc] of docs.entries()) {
      const where = `${name}#${i + 1}`;
      if (doc.errors.length) {
        fail(where, doc.errors.map((e) => e.message).join("; "));
        continue;
      }
      if (doc.warnings.length) {
        fail(where, doc.warnings.map((e) => e.message).join("; "));
        continue;
      }
      const obj = doc.toJS({ maxAliasCount: 0 });
      if (obj === null || obj === undefined) continue; // an empty document (e.g. a trailing ---)
      if (typeof obj !== "object" || Array.isArray(obj)) {
        fail(where, "a manifest must be a mapping");
        continue;
      }
      const Model = await modelFor(obj.apiVersion, obj.kind);
      if (!Model) {
        fail(where, `unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}`);
        continue;
      }
      try {
        new Model(obj).validate();
        objects++;
        console.log(`ok   ${where}: ${obj.apiVersion} ${obj.kind} ${obj.metadata?.name ?? "(no name)"}`);
      } catch (e) {
        fail(`${where} ${obj.kind} ${obj.metadata?.name ?? ""}`, e.message);
      }
    }
  }
}

if (objects === 0 && errors === 0) {
  console.log("FAIL: no Kubernetes objects found");
  errors++;
}
console.log(`k8s schema: ${objects} objects valid, ${errors} errors`);
process.exit(errors ? 1 : 0);
