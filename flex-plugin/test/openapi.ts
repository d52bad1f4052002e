/**
 * The service's own OpenAPI description (webhooks/openapi.json), as a judge of what the plugin
 * sends and of the answers its tests pretend the service gives.
 */
import Ajv, { ValidateFunction } from 'ajv';
import { readFileSync } from 'fs';
import { join } from 'path';

import type { RecordedRequest } from './fakes';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema: object;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

export const SPEC_PATH = join(__dirname, '..', '..', 'webhooks', 'openapi.json');
const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as { paths: Record<string, Record<string, Operation>> };

// The description is OpenAPI 3.0: its schemas are JSON Schema plus `nullable`, which Ajv knows.
// `strict: false` because the document around the schemas (paths, responses) is not a schema.
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(spec, 'openapi.json');

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validators = new Map<string, ValidateFunction>();
function validatorAt(...parts: string[]): ValidateFunction {
  const ref = `openapi.json#/${pointer(...parts)}`;
  let validate = validators.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    validators.set(ref, validate);
  }
  return validate;
}

function check(validate: ValidateFunction, value: unknown, what: string): string[] {
  return validate(value) ? [] : [`${what}: ${ajv.errorsText(validate.errors)}`];
}

/** The path template (e.g. `/transfers/{transferId}`) a path matches, with its parameters. */
function matchPath(path: string): { template: string; params: Record<string, string> } | null {
  for (const template of Object.keys(spec.paths)) {
    const names: string[] = [];
    const pattern = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    const match = new RegExp(`^${pattern}$`).exec(path);
    if (match) {
      return { template, params: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])])) };
    }
  }
  return null;
}

/** Headers OpenAPI describes outside `parameters` (OpenAPI 3.0.3, Parameter Object: "in"). */
const DESCRIBED_ELSEWHERE = new Set(['accept', 'content-type', 'authorization']);

/** What is wrong with a request the plugin sent, measured against the description; [] when nothing. */
export function requestProblems(request: RecordedRequest, baseUrl: string): string[] {
  if (!request.url.startsWith(baseUrl)) return [`${request.url} is not under ${baseUrl}`];
  const url = new URL(request.url);
  const matched = matchPath(url.pathname.slice(new URL(baseUrl).pathname.replace(/\/$/, '').length));
  if (!matched) return [`no path in the description matches ${url.pathname}`];
  const method = request.method.toLowerCase();
  const operation = spec.paths[matched.template][method];
  if (!operation) return [`${request.method} ${matched.template} is not described`];
  const where = `${request.method} ${matched.template}`;
  const problems: string[] = [];
  const parameters = operation.parameters ?? [];
  const headers = new Map(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));

  parameters.forEach((parameter, index) => {
    const value =
      parameter.in === 'path'
        ? matched.params[parameter.name]
        : parameter.in === 'query'
        ? url.searchParams.get(parameter.name) ?? undefined
        : parameter.in === 'header'
        ? headers.get(parameter.name.toLowerCase())
        : undefined;
    if (value === undefined) {
      if (parameter.required) problems.push(`${where}: the ${parameter.in} parameter ${parameter.name} is missing`);
      return;
    }
    const schema = validatorAt('paths', matched.template, method, 'parameters', String(index), 'schema');
    problems.push(...check(schema, value, `${where}: ${parameter.in} ${parameter.name}`));
  });
  for (const name of url.searchParams.keys()) {
    if (!parameters.some((p) => p.in === 'query' && p.name === name)) problems.push(`${where}: undescribed query ${name}`);
  }
  for (const name of headers.keys()) {
    const described = parameters.some((p) => p.in === 'header' && p.name.toLowerCase() === name);
    if (!described && !DESCRIBED_ELSEWHERE.has(name)) problems.push(`${where}: undescribed header ${name}`);
  }

  const contentType = headers.get('content-type')?.split(';')[0].trim();
  if (operation.requestBody) {
    if (request.body === undefined) {
      if (operation.requestBody.required) problems.push(`${where}: the body is missing`);
    } else if (!contentType || !operation.requestBody.content[contentType]) {
      problems.push(`${where}: content type ${contentType} is not described`);
    } else {
      const schema = validatorAt('paths', matched.template, method, 'requestBody', 'content', contentType, 'schema');
      problems.push(...check(schema, request.body, `${where}: body`));
    }
  } else if (request.body !== undefined || contentType) {
    problems.push(`${where}: sends a body the description does not have`);
  }
  return problems;
}

/** What is wrong with an answer a test pretends the service gives; [] when the description allows it. */
export function answerProblems(request: RecordedRequest, baseUrl: string, status: number, body: unknown): string[] {
  const url = new URL(request.url);
  const matched = matchPath(url.pathname.slice(new URL(baseUrl).pathname.replace(/\/$/, '').length));
  const method = request.method.toLowerCase();
  const operation = matched && spec.paths[matched.template][method];
  if (!matched || !operation) return [`${request.method} ${url.pathname} is not described`];
  const where = `${request.method} ${matched.template} → ${status}`;
  const response = operation.responses[String(status)];
  if (!response) return [`${where} is not a documented answer`];
  if (!response.content?.['application/json'] || body === undefined) return [];
  const schema = validatorAt('paths', matched.template, method, 'responses', String(status), 'content', 'application/json', 'schema');
  return check(schema, body, where);
}

/** `METHOD /template` of a request, for counting which operations a test exercised. */
export function operationOf(request: RecordedRequest, baseUrl: string): string {
  const url = new URL(request.url);
  const matched = matchPath(url.pathname.slice(new URL(baseUrl).pathname.replace(/\/$/, '').length));
  return `${request.method} ${matched?.template ?? url.pathname}`;
}
