import { expect } from 'chai';
import { apiRoutes } from '../../src/http/apiRoutes.ts';
import { befriend, client, registerUser, startTestBackend, type Client, type TestBackend } from '../support/testBackend.ts';

/**
 * GET /apischema/openapi.json documents the API the process serves: every mounted route, with the
 * request schemas that validate it, so that what the document accepts the route accepts. GET
 * /apischema/ is Swagger UI, served with its assets from this process.
 */

/** Every route the contract (API.md) defines that this process mounts today. */
const CONTRACT_ROUTES = [
  'POST /api/rest-auth/registration/',
  'POST /api/rest-auth/login/',
  'POST /api/rest-auth/logout/',
  'POST /api/rest-auth/password/change/',
  'GET /api/rest-auth/google/login/',
  'GET /api/rest-auth/google/login/callback/',
  'GET /api/user/currentuser/',
  'PATCH /api/user/currentuser/',
  'POST /api/user/friends/',
  'DELETE /api/user/friends/{user}/',
  'POST /api/user/invitations/',
  'POST /api/chat/mychats/groups/',
  'POST /api/chat/{chat}/',
  'PATCH /api/chat/{chat}/',
  'DELETE /api/chat/{chat}/participants/{user}/',
  'POST /api/chat/{chat}/messages/',
  'PATCH /api/chat/{chat}/messages/{message}/',
  'DELETE /api/chat/{chat}/messages/{message}/',
  'POST /api/chat/{chat}/read/',
  // the read side
  'GET /api/user/{user}/',
  'GET /api/user/search/{phrase}/',
  'GET /api/user/friends/',
  'GET /api/user/invitations/',
  'GET /api/chat/mychats/',
  'GET /api/chat/mychats/{type}/',
  'GET /api/chat/{chat}/',
  'GET /api/chat/{chat}/messages/',
  'GET /api/chat/{chat}/search/{phrase}/',
];

const UNAUTHENTICATED = new Set(['POST /api/rest-auth/registration/', 'POST /api/rest-auth/login/', 'GET /api/rest-auth/google/login/', 'GET /api/rest-auth/google/login/callback/']);

/** The request body each route takes: required fields and the JSON type of each field. */
const REQUEST_BODIES: Record<string, { required: string[]; types: Record<string, string>; strict?: boolean }> = {
  'POST /api/rest-auth/registration/': { required: ['email', 'password1', 'password2'], types: { email: 'string', password1: 'string', password2: 'string', username: 'string' } },
  'POST /api/rest-auth/login/': { required: ['email', 'password'], types: { email: 'string', password: 'string' } },
  'POST /api/rest-auth/password/change/': { required: ['old_password', 'new_password1', 'new_password2'], types: { old_password: 'string', new_password1: 'string', new_password2: 'string' } },
  'PATCH /api/user/currentuser/': { required: [], types: { username: 'string', description: 'string', photo: 'string' }, strict: true },
  'POST /api/user/friends/': { required: ['user_uuid'], types: { user_uuid: 'string' } },
  'POST /api/user/invitations/': { required: ['invitation_id', 'decision'], types: { invitation_id: 'string', decision: 'boolean' } },
  'POST /api/chat/mychats/groups/': { required: ['name'], types: { name: 'string' } },
  'POST /api/chat/{chat}/': { required: ['user_uuid'], types: { user_uuid: 'string' } },
  'PATCH /api/chat/{chat}/': { required: ['name'], types: { name: 'string' } },
  'POST /api/chat/{chat}/messages/': { required: ['message'], types: { message: 'string' } },
  'PATCH /api/chat/{chat}/messages/{message}/': { required: ['message'], types: { message: 'string' } },
  'POST /api/chat/{chat}/read/': { required: ['message_id'], types: { message_id: 'integer' } },
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface JsonSchema {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  enum?: unknown[];
  allOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  required?: string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
}

/** A small OpenAPI 3.0 schema validator: enough of JSON Schema to judge a request body. */
function accepts(document: any, schema: JsonSchema, value: unknown): boolean {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = document.components?.schemas?.[name];
    if (!target) throw new Error(`unresolved ${schema.$ref}`);
    return accepts(document, target, value);
  }
  if (value === null) return schema.nullable === true || (schema.type === undefined && !schema.allOf && !schema.anyOf && !schema.oneOf);
  if (schema.allOf && !schema.allOf.every((s) => accepts(document, s, value))) return false;
  if (schema.anyOf && !schema.anyOf.some((s) => accepts(document, s, value))) return false;
  if (schema.oneOf && schema.oneOf.filter((s) => accepts(document, s, value)).length !== 1) return false;
  if (schema.enum && !schema.enum.some((allowed) => allowed === value)) return false;
  switch (schema.type) {
    case undefined:
      return true;
    case 'string': {
      if (typeof value !== 'string') return false;
      const length = [...value].length;
      if (schema.minLength !== undefined && length < schema.minLength) return false;
      if (schema.maxLength !== undefined && length > schema.maxLength) return false;
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) return false;
      return formatAccepts(schema.format, value);
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return false;
      if (schema.type === 'integer' && !Number.isInteger(value)) return false;
      if (schema.minimum !== undefined && (schema.exclusiveMinimum === true ? value <= schema.minimum : value < schema.minimum)) return false;
      if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) return false;
      if (schema.maximum !== undefined && (schema.exclusiveMaximum === true ? value >= schema.maximum : value > schema.maximum)) return false;
      if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) return false;
      return true;
    }
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value) && (!schema.items || value.every((item) => accepts(document, schema.items!, item)));
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return false;
      const record = value as Record<string, unknown>;
      if ((schema.required ?? []).some((name) => !(name in record))) return false;
      for (const [name, field] of Object.entries(record)) {
        const declared = schema.properties?.[name];
        if (declared) {
          if (!accepts(document, declared, field)) return false;
        } else if (schema.additionalProperties === false) {
          return false;
        } else if (typeof schema.additionalProperties === 'object' && !accepts(document, schema.additionalProperties, field)) {
          return false;
        }
      }
      return true;
    }
    default:
      throw new Error(`schema type ${schema.type} not understood`);
  }
}

function formatAccepts(format: string | undefined, value: string): boolean {
  switch (format) {
    case 'uuid':
      return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
    case 'email':
      return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
    case 'uri':
      return /^[a-z][a-z0-9+.-]*:/i.test(value) && URL.canParse(value);
    default:
      return true;
  }
}

describe('HTTP: the OpenAPI document and Swagger UI', function () {
  this.timeout(30_000);

  let backend: TestBackend;
  let api: Client;
  let document: any;

  before(async () => {
    backend = await startTestBackend();
    api = client(backend.url);
    const reply = await api.get('/apischema/openapi.json');
    expect(reply.status).to.equal(200);
    document = reply.body;
  });
  after(async () => {
    await backend?.close();
  });

  /** "METHOD /path" of every operation the document lists */
  const operations = () =>
    Object.entries<Record<string, unknown>>(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => METHODS.includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
  const operation = (route: string) => {
    const [method, path] = route.split(' ') as [string, string];
    const found = document.paths?.[path]?.[method.toLowerCase()];
    expect(found, `${route} in the document`).to.be.an('object');
    return found;
  };
  const requestSchema = (route: string): JsonSchema | undefined => operation(route).requestBody?.content?.['application/json']?.schema;

  describe('the document', () => {
    it('is served as JSON with no authentication, and looks like OpenAPI 3', async () => {
      const reply = await client(backend.url).get('/apischema/openapi.json');
      expect(reply.status).to.equal(200);
      expect(reply.headers.get('content-type')).to.match(/^application\/json/);
      expect(reply.body.openapi).to.be.a('string').and.match(/^3\.\d+\.\d+$/);
      expect(reply.body.info.title).to.be.a('string').and.not.equal('');
      expect(reply.body.info.version).to.be.a('string').and.not.equal('');
      expect(reply.body.paths).to.be.an('object');
      for (const [path, item] of Object.entries<Record<string, any>>(reply.body.paths)) {
        expect(path).to.match(/^\/[\w\-/{}.]*$/);
        for (const [method, op] of Object.entries<any>(item)) {
          if (!METHODS.includes(method)) continue;
          expect(op.responses, `${method} ${path} responses`).to.be.an('object');
          const statuses = Object.keys(op.responses);
          expect(statuses, `${method} ${path} documents a success`).to.satisfy((all: string[]) => all.some((s) => /^[23]\d\d$/.test(s)));
        }
      }
    });

    it('lists every route of the contract this process serves', () => {
      expect(operations()).to.include.members(CONTRACT_ROUTES);
    });

    it('lists exactly the routes mounted, no more and no fewer', () => {
      // the routes are built from their dependencies without using them: any object stands in for each
      const anything = new Proxy({}, { get: () => ({}) });
      const mounted = apiRoutes(anything as never).map((route) => `${route.method.toUpperCase()} ${route.path}`);
      expect(operations()).to.have.members(mounted);
    });

    it('lists only routes that are mounted: each documented operation answers something other than 404 or 405', async () => {
      const someUuid = '3b241101-e2bb-4255-8caf-4136c566a962';
      for (const route of operations()) {
        const [method, path] = route.split(' ') as [string, string];
        const concrete = path.replace(/\{message\}/g, '1').replace(/\{\w+\}/g, someUuid);
        const reply = await client(backend.url).raw(method, concrete, ['GET', 'DELETE'].includes(method) ? undefined : {});
        expect([404, 405], `${route} answered ${reply.status} ${JSON.stringify(reply.body)}`).not.to.include(reply.status);
        if (!UNAUTHENTICATED.has(route)) expect(reply.status, `${route} without a token`).to.equal(401);
      }
    });

    it('documents every path parameter as required, and the Google callback query', () => {
      for (const route of operations()) {
        const [, path] = route.split(' ') as [string, string];
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const parameters: any[] = operation(route).parameters ?? [];
        const inPath = parameters.filter((p) => p.in === 'path');
        expect(inPath.map((p) => p.name), `${route} path parameters`).to.have.members(names);
        for (const p of inPath) expect(p.required, `${route} {${p.name}} required`).to.equal(true);
      }
      const query = (operation('GET /api/rest-auth/google/login/callback/').parameters as any[]).filter((p) => p.in === 'query');
      expect(query.map((p) => [p.name, p.required])).to.have.deep.members([
        ['code', true],
        ['state', true],
      ]);
    });

    it('marks the authenticated operations with the token scheme, and the others with none', () => {
      expect(document.components.securitySchemes.token).to.include({ type: 'apiKey', in: 'header', name: 'Authorization' });
      for (const route of operations()) {
        const security = operation(route).security ?? document.security ?? [];
        if (UNAUTHENTICATED.has(route)) expect(security, route).to.deep.equal([]);
        else expect(security, route).to.deep.equal([{ token: [] }]);
      }
    });

    it('gives each route that takes a body its request schema: required fields and their types', () => {
      for (const [route, expected] of Object.entries(REQUEST_BODIES)) {
        const schema = requestSchema(route);
        expect(schema, `${route} request body`).to.be.an('object');
        expect(operation(route).requestBody.content, route).to.have.property('application/json');
        expect(schema!.type, route).to.equal('object');
        expect(schema!.required ?? [], `${route} required`).to.have.members(expected.required);
        for (const [name, type] of Object.entries(expected.types)) expect(schema!.properties?.[name]?.type, `${route} ${name}`).to.equal(type);
        if (expected.strict) expect(schema!.additionalProperties, `${route} is strict`).to.equal(false);
      }
    });

    it('gives no request body to the routes that take none', () => {
      for (const route of operations().filter((r) => !(r in REQUEST_BODIES))) {
        expect(operation(route).requestBody, route).to.equal(undefined);
      }
    });

    it('documents the 400 answer, with the Error schema, of every route whose body can be invalid', () => {
      const missing = Object.keys(REQUEST_BODIES).filter((route) => {
        const answer = operation(route).responses['400'];
        return answer?.content?.['application/json']?.schema?.$ref !== '#/components/schemas/Error';
      });
      expect(missing, 'routes with a body but no documented 400').to.deep.equal([]);
      expect(document.components.schemas.Error.required).to.include.members(['detail', 'code']);
    });
  });

  describe('the document judges a request body as the route does', () => {
    let alice: Awaited<ReturnType<typeof registerUser>>;
    let chat: string;
    before(async () => {
      alice = await registerUser(api, 'schemaalice');
      const bob = await registerUser(api, 'schemabob');
      chat = await befriend(alice, bob);
    });

    /** 2xx: accepted; 400 or 413: refused for its body; anything else is not an answer about the body */
    async function routeAccepts(send: () => Promise<{ status: number; body: unknown }>): Promise<boolean> {
      const reply = await send();
      expect([200, 201, 400, 413], `${reply.status} ${JSON.stringify(reply.body)}`).to.include(reply.status);
      return reply.status < 300;
    }

    const messageBodies: Array<[string, unknown]> = [
      ['a message', { message: 'hello' }],
      ['a message with a client_id', { message: 'hello again', client_id: '0f8fad5b-d9cb-469f-a165-70867728950e' }],
      ['a message of 4,000 characters', { message: 'm'.repeat(4000) }],
      ['no message', {}],
      ['a number', { message: 42 }],
      ['null', { message: null }],
      ['an array', { message: ['hello'] }],
      ['a client_id that is not a UUID', { message: 'hello', client_id: 'again' }],
      ['an empty message', { message: '' }],
      ['a message of 4,001 characters', { message: 'm'.repeat(4001) }],
    ];
    for (const [what, body] of messageBodies) {
      it(`POST /api/chat/{chat}/messages/: ${what}`, async () => {
        const byDocument = accepts(document, requestSchema('POST /api/chat/{chat}/messages/')!, body);
        const byRoute = await routeAccepts(() => alice.api.post(`/api/chat/${chat}/messages/`, body));
        expect(byDocument, `the document ${byDocument ? 'accepts' : 'refuses'} it, the route ${byRoute ? 'accepts' : 'refuses'} it`).to.equal(byRoute);
      });
    }

    let registrations = 0;
    const registration = (fields: Record<string, unknown>) => ({ email: `schema.${Date.now()}.${++registrations}@example.com`, password1: 'correct horse battery', password2: 'correct horse battery', ...fields });
    const registrationBodies: Array<[string, () => unknown]> = [
      ['a registration', () => registration({})],
      ['no password2', () => registration({ password2: undefined })],
      ['a username of 51 characters', () => registration({ username: 'u'.repeat(51) })],
      ['an email that is not an address', () => registration({ email: 'schema.example.com' })],
    ];
    for (const [what, make] of registrationBodies) {
      it(`POST /api/rest-auth/registration/: ${what}`, async () => {
        const body = JSON.parse(JSON.stringify(make()));
        const byDocument = accepts(document, requestSchema('POST /api/rest-auth/registration/')!, body);
        const byRoute = await routeAccepts(() => api.post('/api/rest-auth/registration/', body));
        expect(byDocument, `the document ${byDocument ? 'accepts' : 'refuses'} it, the route ${byRoute ? 'accepts' : 'refuses'} it`).to.equal(byRoute);
      });
    }

    const profileBodies: Array<[string, unknown]> = [
      ['a description', { description: 'Curiouser and curiouser.' }],
      ['an https photo', { photo: 'https://example.com/alice.png' }],
      ['no photo (null)', { photo: null }],
      ['an unknown field', { nickname: 'Al' }],
      ['a description of 251 characters', { description: 'd'.repeat(251) }],
      ['a javascript: photo', { photo: 'javascript:alert(1)' }],
      ['an ftp photo', { photo: 'ftp://example.com/alice.png' }],
    ];
    for (const [what, body] of profileBodies) {
      it(`PATCH /api/user/currentuser/: ${what}`, async () => {
        const byDocument = accepts(document, requestSchema('PATCH /api/user/currentuser/')!, body);
        const byRoute = await routeAccepts(() => alice.api.patch('/api/user/currentuser/', body));
        expect(byDocument, `the document ${byDocument ? 'accepts' : 'refuses'} it, the route ${byRoute ? 'accepts' : 'refuses'} it`).to.equal(byRoute);
      });
    }
  });

  describe('Swagger UI at /apischema/', () => {
    let page: string;
    let assets: string[];

    before(async () => {
      const response = await fetch(`${backend.url}/apischema/`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/html/);
      page = await response.text();
      assets = [...page.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    });

    it('is an HTML page that starts Swagger UI on the document', () => {
      expect(page).to.match(/^<!doctype html>/i);
      expect(page).to.include('SwaggerUIBundle(');
      expect(page).to.match(/url:\s*['"]\/apischema\/openapi\.json['"]/);
    });

    it('loads its scripts and stylesheet from /apischema/, none from elsewhere', () => {
      expect(assets.filter((a) => a.endsWith('.js'))).not.to.be.empty;
      expect(assets.filter((a) => a.endsWith('.css'))).not.to.be.empty;
      for (const asset of assets) expect(asset).to.match(/^\/apischema\/[\w.-]+$/);
    });

    it('serves those assets: 200 with a JavaScript or CSS content type, and the bundle defines SwaggerUIBundle', async () => {
      for (const asset of assets) {
        const response = await fetch(`${backend.url}${asset}`);
        expect(response.status, asset).to.equal(200);
        const type = response.headers.get('content-type') ?? '';
        if (asset.endsWith('.js')) expect(type, asset).to.match(/^(application|text)\/javascript/);
        else expect(type, asset).to.match(/^text\/css/);
        const text = await response.text();
        expect(text.length, asset).to.be.greaterThan(1000);
        if (asset.includes('bundle')) expect(text).to.include('SwaggerUIBundle');
      }
    });

    it('serves no other file: an unknown asset or a path out of the directory is a JSON 404', async () => {
      for (const path of ['/apischema/nope.js', '/apischema/..%2Fpackage.json', '/apischema/..%2F..%2F..%2Fpackage.json', '/apischema/index.html', '/apischema/package.json']) {
        const reply = await client(backend.url).get(path);
        expect(reply.status, path).to.equal(404);
        expect(reply.body, path).to.deep.include({ code: 'not_found' });
        expect(JSON.stringify(reply.body), path).not.to.include('swagger-ui-dist');
      }
    });
  });

  describe('no authentication needed', () => {
    for (const path of ['/apischema/', '/apischema/openapi.json', '/healthz', '/readyz']) {
      it(`GET ${path}: 200 with no token, and with a bad one`, async () => {
        expect((await client(backend.url).get(path)).status).to.equal(200);
        expect((await client(backend.url, 'not-a-token').get(path)).status).to.equal(200);
      });
    }

    it('while an authenticated route answers 401 to the same requests', async () => {
      expect((await client(backend.url).get('/api/user/currentuser/')).status).to.equal(401);
      expect((await client(backend.url, 'not-a-token').get('/api/user/currentuser/')).status).to.equal(401);
    });
  });
});
