import { expect } from 'chai';
import { befriend, client, registerUser, startTestBackend, type Client, type Reply, type TestBackend } from '../support/testBackend.ts';

/**
 * Bad input on every endpoint the REST API mounts: each request is refused with the contract's
 * error shape and — the point of it all — appends nothing to the event log. Every endpoint ends
 * with a control request (its valid twin), which shows the bad requests were bad only in the
 * one way each names: the same caller, path and body otherwise succeed.
 */

type User = Awaited<ReturnType<typeof registerUser>>;
type Lazy<T> = T | (() => T);
const resolve = <T>(value: Lazy<T>): T => (typeof value === 'function' ? (value as () => T)() : value);

const PASSWORD = 'correct horse battery';
/** what a stack trace or a source location looks like in a body */
const STACK_TRACE = /\n\s*at |\bat \S+ \(|\bat (file|node):|\.[cm]?[jt]s:\d+|node_modules|node:internal/;
const OVER_64_KB = 'x'.repeat(70 * 1024);

interface BadRequest {
  name: string;
  /** an object is sent as JSON; a string is sent as it is */
  body?: Lazy<unknown>;
  contentType?: string;
  /** replaces the endpoint's valid path */
  path?: Lazy<string>;
  status: number | number[];
  code?: string;
  /** the field `fields` must name; implies code "invalid" */
  field?: string;
}

interface Endpoint {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** OpenAPI style, e.g. /api/chat/{chat}/messages/{message}/ */
  template: string;
  params?: () => Record<string, string>;
  caller: () => Client;
  /** a body the route accepts; none for routes that take no body */
  valid?: () => Record<string, unknown>;
  cases?: BadRequest[];
  /** checked after every bad request, beside the event log: what the request must not have changed */
  unchanged?: () => Promise<unknown>;
  /** the valid request, sent last */
  control: { status: number; appends: boolean; params?: () => Record<string, string>; then?: (reply: Reply) => Promise<unknown> };
}

/** Malformed stand-ins for a valid path parameter. */
const MALFORMED_UUID: Array<[string, (valid: string) => string]> = [
  ['not a UUID', () => 'not-a-uuid'],
  ['a number', () => '12345'],
  ['one character short', (v) => v.slice(0, -1)],
  ['one character too many', (v) => `${v}0`],
  ['without dashes', (v) => v.replaceAll('-', '')],
  ['non-hex digits', (v) => `zzzzzzzz${v.slice(8)}`],
  ['SQL', () => encodeURIComponent("' OR '1'='1")],
];
const MALFORMED_MESSAGE_ID: Array<[string, (valid: string) => string]> = [
  ['not a number', () => 'abc'],
  ['zero', () => '0'],
  ['negative', (v) => `-${v}`],
  ['a fraction', (v) => `${v}.5`],
  ['beyond a safe integer', () => '99999999999999999999999'],
  // the same number spelled otherwise: one message must not have many addresses
  ['with a decimal point', (v) => `${v}.0`],
  ['in hexadecimal', (v) => `0x${Number(v).toString(16)}`],
  ['in exponent notation', (v) => `${v}e0`],
];

describe('HTTP: bad input on every endpoint appends nothing', function () {
  this.timeout(60_000);

  let backend: TestBackend;
  let api: Client;
  const f = {} as {
    alice: User;
    bob: User;
    carol: User;
    dave: User;
    erin: User;
    pat: User;
    /** pat's second token, which a failed password change must leave working */
    patOtherKey: string;
    privateChat: string;
    group: string;
    group2: string;
    m1: number;
    m2: number;
    m3: number;
    invitation: string;
    aliceBefore: unknown;
  };
  let registrations = 0;
  const newRegistration = () => ({ email: `newcomer.${Date.now()}.${++registrations}@example.com`, password1: PASSWORD, password2: PASSWORD, username: 'newcomer' });

  before(async () => {
    backend = await startTestBackend();
    api = client(backend.url);
    f.alice = await registerUser(api, 'alice');
    f.bob = await registerUser(api, 'bob');
    f.carol = await registerUser(api, 'carol');
    f.dave = await registerUser(api, 'dave');
    f.erin = await registerUser(api, 'erin');
    f.pat = await registerUser(api, 'pat');
    f.privateChat = await befriend(f.alice, f.bob);
    await befriend(f.alice, f.erin);

    const invited = await f.dave.api.post('/api/user/friends/', { user_uuid: f.alice.id });
    expect(invited.status).to.equal(201);
    f.invitation = invited.body.id;

    const group = await f.alice.api.post('/api/chat/mychats/groups/', { name: 'Group' });
    expect(group.status).to.equal(201);
    f.group = group.body.chat.uuid;
    const group2 = await f.alice.api.post('/api/chat/mychats/groups/', { name: 'Group 2' });
    expect(group2.status).to.equal(201);
    f.group2 = group2.body.chat.uuid;
    expect((await f.alice.api.post(`/api/chat/${f.group2}/`, { user_uuid: f.bob.id })).status).to.equal(200);

    const m1 = await f.alice.api.post(`/api/chat/${f.privateChat}/messages/`, { message: 'first' });
    expect(m1.status).to.equal(201);
    f.m1 = m1.body.message.id;
    const m2 = await f.alice.api.post(`/api/chat/${f.privateChat}/messages/`, { message: 'second' });
    expect(m2.status).to.equal(201);
    f.m2 = m2.body.message.id;
    const m3 = await f.alice.api.post(`/api/chat/${f.privateChat}/messages/`, { message: 'third' });
    expect(m3.status).to.equal(201);
    f.m3 = m3.body.message.id;

    const login = await api.post('/api/rest-auth/login/', { email: f.pat.email, password: PASSWORD });
    expect(login.status).to.equal(200);
    f.patOtherKey = login.body.key;

    const current = await f.alice.api.get('/api/user/currentuser/');
    expect(current.status).to.equal(200);
    f.aliceBefore = current.body;
  });

  after(async () => {
    await backend?.close();
  });

  const pathOf = (endpoint: Endpoint, replace: Record<string, string> = {}) =>
    endpoint.template.replace(/\{(\w+)\}/g, (_, name: string) => replace[name] ?? endpoint.params!()[name]!);

  function send(endpoint: Endpoint, bad: { body?: Lazy<unknown>; contentType?: string; path?: Lazy<string> }): Promise<Reply> {
    const path = bad.path === undefined ? pathOf(endpoint) : resolve(bad.path);
    const body = endpoint.method === 'GET' || endpoint.method === 'DELETE' ? undefined : 'body' in bad ? resolve(bad.body) : endpoint.valid?.();
    return endpoint.caller().raw(endpoint.method, path, body, bad.contentType ? { 'content-type': bad.contentType } : {});
  }

  /** The contract's error shape: `{detail, code, fields?}` as JSON, and no stack trace. */
  function expectErrorShape(reply: Reply) {
    expect(reply.headers.get('content-type'), 'content type').to.match(/^application\/json/);
    expect(reply.body, 'a JSON object').to.be.an('object').and.not.be.an('array');
    expect(reply.body.detail, 'detail').to.be.a('string').and.not.equal('');
    expect(reply.body.code, 'code').to.be.a('string').and.not.equal('');
    expect(JSON.stringify(reply.body), 'no stack trace').not.to.match(STACK_TRACE);
    if (reply.status === 400 && reply.body.code === 'invalid') {
      expect(reply.body.fields, 'fields').to.be.an('object').and.not.be.an('array');
      expect(Object.keys(reply.body.fields), 'fields names a field').not.to.be.empty;
      for (const [name, messages] of Object.entries(reply.body.fields)) {
        expect(messages, `fields.${name}`).to.be.an('array').and.not.be.empty;
        for (const message of messages as unknown[]) expect(message).to.be.a('string');
      }
    }
  }

  /** Sends the request, expects it refused as told, and the event log exactly as long as before. */
  async function expectRefused(endpoint: Endpoint, bad: BadRequest): Promise<Reply> {
    const head = await backend.logHead();
    const reply = await send(endpoint, bad);
    const described = `${reply.status} ${JSON.stringify(reply.body)?.slice(0, 300)}`;
    const statuses = Array.isArray(bad.status) ? bad.status : [bad.status];
    expect(statuses, described).to.include(reply.status);
    expectErrorShape(reply);
    const code = bad.code ?? (bad.field ? 'invalid' : undefined);
    if (code) expect(reply.body.code, described).to.equal(code);
    if (bad.field) expect(reply.body.fields, described).to.have.property(bad.field);
    expect(await backend.logHead(), 'the event log grew').to.equal(head);
    await endpoint.unchanged?.();
    return reply;
  }

  /** What every endpoint with a JSON body must refuse, whatever its fields. */
  function parserCases(endpoint: Endpoint): BadRequest[] {
    // a route that takes no body (logout) still parses one
    const valid = () => endpoint.valid?.() ?? { note: 'bye' };
    const text = () => JSON.stringify(valid());
    /** the JSON text of the valid body with one key in front: JSON.stringify cannot write a literal __proto__ key */
    const withKeyInFront = (key: string, value: unknown) => () => `{${JSON.stringify(key)}:${JSON.stringify(value)},${text().slice(1)}`;
    const cases: BadRequest[] = [
      { name: 'malformed JSON (cut short)', body: () => text().slice(0, -1), status: 400 },
      { name: 'malformed JSON (single quotes)', body: () => text().replaceAll('"', "'"), status: 400 },
      { name: 'a body over 64 kB', body: () => ({ ...valid(), padding: OVER_64_KB }), status: 413, code: 'too_large' },
      { name: 'a "__proto__" key beside the fields', body: withKeyInFront('__proto__', { polluted: 'yes', is_admin: true }), status: 400 },
    ];
    if (!endpoint.valid) return cases;
    return [
      ...cases,
      // were these keys merged into a prototype, the fields they carry would look present (and every object would have them)
      { name: 'the fields only under a "__proto__" key', body: () => `{"__proto__":${text()}}`, status: 400 },
      { name: 'the fields only under "constructor.prototype"', body: () => `{"constructor":{"prototype":${text()}}}`, status: 400 },
      { name: 'the valid body as text/plain', body: text, contentType: 'text/plain', status: [400, 415] },
      { name: 'the valid body form-encoded', body: () => new URLSearchParams(valid() as Record<string, string>).toString(), contentType: 'application/x-www-form-urlencoded', status: [400, 415] },
      { name: 'the valid body inside an array', body: () => [valid()], status: 400 },
      { name: 'null', body: 'null', status: 400 },
      { name: 'a JSON string', body: () => JSON.stringify(text()), status: 400 },
      { name: 'a JSON number', body: '42', status: 400 },
    ];
  }

  function pathCases(endpoint: Endpoint): BadRequest[] {
    const names = [...endpoint.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    return names.flatMap((name) =>
      (name === 'message' ? MALFORMED_MESSAGE_ID : MALFORMED_UUID).map(([what, malformed]) => ({
        name: `{${name}} ${what}`,
        path: () => pathOf(endpoint, { [name]: malformed(endpoint.params!()[name]!) }),
        status: 404,
        code: 'not_found',
      })),
    );
  }

  // the fields each route takes, and values it must refuse
  const contentCases = (field: string): BadRequest[] => [
    { name: `${field} missing`, body: {}, status: 400, field },
    { name: `${field} a number`, body: { [field]: 42 }, status: 400, field },
    { name: `${field} null`, body: { [field]: null }, status: 400, field },
    { name: `${field} an array`, body: { [field]: ['hello'] }, status: 400, field },
    { name: `${field} an object`, body: { [field]: { text: 'hello' } }, status: 400, field },
    { name: `${field} empty`, body: { [field]: '' }, status: 400, field },
    { name: `${field} whitespace only`, body: { [field]: ' \n\t  ' }, status: 400, field },
    { name: `${field} of 4,001 characters`, body: { [field]: 'a'.repeat(4001) }, status: 413, code: 'too_large' },
    { name: `${field} of 4,001 characters between spaces`, body: { [field]: ` ${'b'.repeat(4001)} ` }, status: 413, code: 'too_large' },
    { name: 'client_id not a UUID', body: { [field]: 'hello', client_id: 'again' }, status: 400, field: 'client_id' },
    // text Postgres cannot store: refused as invalid, never a 500
    { name: `${field} with a NUL character`, body: { [field]: 'nul\u0000here' }, status: 400, field },
    { name: `${field} with a lone surrogate`, body: `{"${field}":"half \\ud800 a pair"}`, status: 400, field },
  ];
  const uuidFieldCases = (field: string, value: () => string): BadRequest[] => [
    { name: `${field} missing`, body: {}, status: 400, field },
    { name: `${field} a number`, body: { [field]: 42 }, status: 400, field },
    { name: `${field} null`, body: { [field]: null }, status: 400, field },
    { name: `${field} not a UUID`, body: { [field]: 'not-a-uuid' }, status: 400, field },
    { name: `${field} in an array`, body: () => ({ [field]: [value()] }), status: 400, field },
    { name: `${field} in an object`, body: () => ({ [field]: { uuid: value() } }), status: 400, field },
    { name: 'client_id not a UUID', body: () => ({ [field]: value(), client_id: 12 }), status: 400, field: 'client_id' },
  ];
  const chatNameCases: BadRequest[] = [
    { name: 'name missing', body: {}, status: 400, field: 'name' },
    { name: 'name a number', body: { name: 7 }, status: 400, field: 'name' },
    { name: 'name null', body: { name: null }, status: 400, field: 'name' },
    { name: 'name an array', body: { name: ['Group'] }, status: 400, field: 'name' },
    { name: 'name empty', body: { name: '' }, status: 400, field: 'name' },
    { name: 'name whitespace only', body: { name: '   ' }, status: 400, field: 'name' },
    { name: 'name of 101 characters', body: { name: 'n'.repeat(101) }, status: 400, field: 'name' },
    { name: 'client_id not a UUID', body: { name: 'Fine', client_id: 'x' }, status: 400, field: 'client_id' },
    { name: 'name with a NUL character', body: { name: 'nul\u0000here' }, status: 400, field: 'name' },
  ];

  const endpoints: Endpoint[] = [
    {
      name: 'POST /api/rest-auth/registration/',
      method: 'POST',
      template: '/api/rest-auth/registration/',
      caller: () => api,
      valid: newRegistration,
      cases: [
        { name: 'email missing', body: () => ({ ...newRegistration(), email: undefined }), status: 400, field: 'email' },
        { name: 'email a number', body: () => ({ ...newRegistration(), email: 42 }), status: 400, field: 'email' },
        { name: 'email null', body: () => ({ ...newRegistration(), email: null }), status: 400, field: 'email' },
        { name: 'email in an array', body: () => ({ ...newRegistration(), email: [newRegistration().email] }), status: 400, field: 'email' },
        { name: 'email not an address', body: () => ({ ...newRegistration(), email: 'newcomer.example.com' }), status: 400, field: 'email' },
        { name: 'email over 254 characters', body: () => ({ ...newRegistration(), email: `${'e'.repeat(250)}@example.com` }), status: 400, field: 'email' },
        { name: 'password1 missing', body: () => ({ ...newRegistration(), password1: undefined }), status: 400, field: 'password1' },
        { name: 'password1 a number', body: () => ({ ...newRegistration(), password1: 12345678901, password2: 12345678901 }), status: 400, field: 'password1' },
        { name: 'password2 null', body: () => ({ ...newRegistration(), password2: null }), status: 400, field: 'password2' },
        { name: 'passwords that differ', body: () => ({ ...newRegistration(), password2: `${PASSWORD}!` }), status: 400, field: 'password2' },
        { name: 'a password under 8 characters', body: () => ({ ...newRegistration(), password1: 'short1', password2: 'short1' }), status: 400, field: 'password1' },
        { name: 'an all-digit password', body: () => ({ ...newRegistration(), password1: '1234567890', password2: '1234567890' }), status: 400, field: 'password1' },
        {
          name: "a password equal to the email's name",
          body: () => ({ ...newRegistration(), email: `Longname${registrations}@example.com`, password1: `longname${registrations}`, password2: `longname${registrations}` }),
          status: 400,
          field: 'password1',
        },
        { name: 'username of 51 characters', body: () => ({ ...newRegistration(), username: 'u'.repeat(51) }), status: 400, field: 'username' },
        { name: 'username a number', body: () => ({ ...newRegistration(), username: 42 }), status: 400, field: 'username' },
        { name: 'username whitespace only', body: () => ({ ...newRegistration(), username: '   ' }), status: 400, field: 'username' },
        { name: 'username with a NUL character', body: () => ({ ...newRegistration(), username: 'nul\u0000here' }), status: 400, field: 'username' },
        { name: 'client_id not a UUID', body: () => ({ ...newRegistration(), client_id: 'mine' }), status: 400, field: 'client_id' },
        { name: 'an email already taken, in other case', body: () => ({ ...newRegistration(), email: f.alice.email.toUpperCase() }), status: 409 },
      ],
      control: { status: 201, appends: true },
    },
    {
      name: 'POST /api/rest-auth/login/',
      method: 'POST',
      template: '/api/rest-auth/login/',
      caller: () => api,
      valid: () => ({ email: f.alice.email, password: PASSWORD }),
      cases: [
        { name: 'email missing', body: { password: PASSWORD }, status: 400, field: 'email' },
        { name: 'email a number', body: { email: 42, password: PASSWORD }, status: 400, field: 'email' },
        { name: 'email null', body: { email: null, password: PASSWORD }, status: 400, field: 'email' },
        { name: 'email in an array', body: () => ({ email: [f.alice.email], password: PASSWORD }), status: 400, field: 'email' },
        { name: 'password missing', body: () => ({ email: f.alice.email }), status: 400, field: 'password' },
        { name: 'password a number', body: () => ({ email: f.alice.email, password: 123456789 }), status: 400, field: 'password' },
        { name: 'password empty', body: () => ({ email: f.alice.email, password: '' }), status: 400, field: 'password' },
        { name: 'a wrong password', body: () => ({ email: f.alice.email, password: `${PASSWORD}?` }), status: 400, code: 'invalid_credentials' },
        { name: 'an unknown email', body: { email: 'nobody@example.com', password: PASSWORD }, status: 400, code: 'invalid_credentials' },
        { name: 'an email with a NUL character', body: { email: 'no\u0000body@example.com', password: PASSWORD }, status: 400 },
      ],
      control: {
        status: 200,
        appends: false,
        then: async (reply) => expect((await api.as(reply.body.key).get('/api/user/currentuser/')).status).to.equal(200),
      },
    },
    {
      name: 'POST /api/rest-auth/logout/',
      method: 'POST',
      template: '/api/rest-auth/logout/',
      caller: () => f.carol.api,
      // the token that sent a refused logout keeps working
      unchanged: async () => expect((await f.carol.api.get('/api/user/currentuser/')).status, 'the token still works').to.equal(200),
      control: {
        status: 200,
        appends: false,
        then: async () => expect((await f.carol.api.get('/api/user/currentuser/')).status, 'the token was revoked').to.equal(401),
      },
    },
    {
      name: 'POST /api/rest-auth/password/change/',
      method: 'POST',
      template: '/api/rest-auth/password/change/',
      caller: () => f.pat.api,
      valid: () => ({ old_password: PASSWORD, new_password1: 'a brand new passphrase', new_password2: 'a brand new passphrase' }),
      cases: [
        { name: 'old_password missing', body: { new_password1: 'a new passphrase', new_password2: 'a new passphrase' }, status: 400, field: 'old_password' },
        { name: 'old_password a number', body: { old_password: 12345678, new_password1: 'a new passphrase', new_password2: 'a new passphrase' }, status: 400, field: 'old_password' },
        { name: 'old_password wrong', body: { old_password: 'not my password', new_password1: 'a new passphrase', new_password2: 'a new passphrase' }, status: 400, field: 'old_password' },
        { name: 'new_password1 missing', body: { old_password: PASSWORD, new_password2: 'a new passphrase' }, status: 400, field: 'new_password1' },
        { name: 'new_password1 null', body: { old_password: PASSWORD, new_password1: null, new_password2: 'a new passphrase' }, status: 400, field: 'new_password1' },
        { name: 'new passwords that differ', body: { old_password: PASSWORD, new_password1: 'a new passphrase', new_password2: 'another passphrase' }, status: 400, field: 'new_password2' },
        { name: 'a new password too short', body: { old_password: PASSWORD, new_password1: 'abc', new_password2: 'abc' }, status: 400, field: 'new_password1' },
        { name: 'an all-digit new password', body: { old_password: PASSWORD, new_password1: '9876543210', new_password2: '9876543210' }, status: 400, field: 'new_password1' },
        { name: 'passwords in an array', body: { old_password: [PASSWORD], new_password1: ['a new passphrase'], new_password2: ['a new passphrase'] }, status: 400, field: 'old_password' },
      ],
      // a refused change keeps the old password, and the user's other tokens
      unchanged: async () => {
        expect((await api.post('/api/rest-auth/login/', { email: f.pat.email, password: PASSWORD })).status, 'the old password still logs in').to.equal(200);
        expect((await api.as(f.patOtherKey).get('/api/user/currentuser/')).status, "the user's other token still works").to.equal(200);
      },
      control: {
        status: 200,
        appends: false,
        then: async () => {
          expect((await api.as(f.patOtherKey).get('/api/user/currentuser/')).status, "the user's other token was revoked").to.equal(401);
          expect((await f.pat.api.get('/api/user/currentuser/')).status, 'the token that changed it still works').to.equal(200);
        },
      },
    },
    {
      name: 'PATCH /api/user/currentuser/',
      method: 'PATCH',
      template: '/api/user/currentuser/',
      caller: () => f.alice.api,
      valid: () => ({ description: 'Down the rabbit hole.' }),
      cases: [
        { name: 'username of 51 characters', body: { username: 'u'.repeat(51) }, status: 400, field: 'username' },
        { name: 'username empty', body: { username: '' }, status: 400, field: 'username' },
        { name: 'username whitespace only', body: { username: '  \t ' }, status: 400, field: 'username' },
        { name: 'username a number', body: { username: 42 }, status: 400, field: 'username' },
        { name: 'username null', body: { username: null }, status: 400, field: 'username' },
        { name: 'username an array', body: { username: ['alice'] }, status: 400, field: 'username' },
        { name: 'description of 251 characters', body: { description: 'd'.repeat(251) }, status: 400, field: 'description' },
        { name: 'description a number', body: { description: 7 }, status: 400, field: 'description' },
        { name: 'description a boolean', body: { description: true }, status: 400, field: 'description' },
        { name: 'description with a NUL character', body: { description: 'nul\u0000here' }, status: 400, field: 'description' },
        { name: 'username with a NUL character', body: { username: 'nul\u0000here' }, status: 400, field: 'username' },
        { name: 'photo javascript:alert(1)', body: { photo: 'javascript:alert(1)' }, status: 400, field: 'photo' },
        { name: 'photo ftp://x', body: { photo: 'ftp://x' }, status: 400, field: 'photo' },
        { name: 'photo a data: URL', body: { photo: 'data:text/html,<script>alert(1)</script>' }, status: 400, field: 'photo' },
        { name: 'photo not a URL', body: { photo: 'http//example.com/me.png' }, status: 400, field: 'photo' },
        { name: 'photo a number', body: { photo: 12 }, status: 400, field: 'photo' },
        { name: 'photo over 2,000 characters', body: { photo: `https://example.com/${'p'.repeat(2000)}.png` }, status: 400, field: 'photo' },
        // the schema is strict: a field it does not know is refused, not ignored
        { name: 'an unknown field', body: { description: 'ok', nickname: 'Al' }, status: 400, code: 'invalid' },
        { name: 'email (not changeable here)', body: { email: 'mallory@example.com' }, status: 400, code: 'invalid' },
        { name: 'is_active (not changeable here)', body: { is_active: false }, status: 400, code: 'invalid' },
        { name: 'a role', body: { role: 'auditor' }, status: 400, code: 'invalid' },
        { name: 'client_id not a UUID', body: { description: 'ok', client_id: 'x' }, status: 400, field: 'client_id' },
      ],
      unchanged: async () => expect((await f.alice.api.get('/api/user/currentuser/')).body, 'the user is unchanged').to.deep.equal(f.aliceBefore),
      control: {
        status: 200,
        appends: true,
        then: async (reply) => expect(reply.body.description).to.equal('Down the rabbit hole.'),
      },
    },
    {
      name: 'POST /api/user/friends/',
      method: 'POST',
      template: '/api/user/friends/',
      caller: () => f.alice.api,
      valid: () => ({ user_uuid: f.carol.id }),
      cases: [
        ...uuidFieldCases('user_uuid', () => f.carol.id),
        { name: 'yourself', body: () => ({ user_uuid: f.alice.id }), status: 400 },
        { name: 'an unknown user', body: { user_uuid: '5f0c6a52-3d4e-4b8a-9c1d-2e3f4a5b6c7d' }, status: 404 },
        { name: 'a friend already', body: () => ({ user_uuid: f.bob.id }), status: 409 },
      ],
      control: { status: 201, appends: true },
    },
    {
      name: 'DELETE /api/user/friends/{user}/',
      method: 'DELETE',
      template: '/api/user/friends/{user}/',
      params: () => ({ user: f.erin.id }),
      caller: () => f.alice.api,
      control: { status: 200, appends: true },
    },
    {
      name: 'POST /api/user/invitations/',
      method: 'POST',
      template: '/api/user/invitations/',
      caller: () => f.alice.api,
      valid: () => ({ invitation_id: f.invitation, decision: true }),
      cases: [
        { name: 'decision missing', body: () => ({ invitation_id: f.invitation }), status: 400, field: 'decision' },
        { name: 'decision the string "true"', body: () => ({ invitation_id: f.invitation, decision: 'true' }), status: 400, field: 'decision' },
        { name: 'decision the string "false"', body: () => ({ invitation_id: f.invitation, decision: 'false' }), status: 400, field: 'decision' },
        { name: 'decision 1', body: () => ({ invitation_id: f.invitation, decision: 1 }), status: 400, field: 'decision' },
        { name: 'decision 0', body: () => ({ invitation_id: f.invitation, decision: 0 }), status: 400, field: 'decision' },
        { name: 'decision null', body: () => ({ invitation_id: f.invitation, decision: null }), status: 400, field: 'decision' },
        { name: 'decision in an array', body: () => ({ invitation_id: f.invitation, decision: [true] }), status: 400, field: 'decision' },
        { name: 'invitation_id missing', body: { decision: true }, status: 400, field: 'invitation_id' },
        { name: 'invitation_id a number', body: { invitation_id: 1, decision: true }, status: 400, field: 'invitation_id' },
        { name: 'invitation_id not a UUID', body: { invitation_id: 'first', decision: true }, status: 400, field: 'invitation_id' },
        { name: 'client_id not a UUID', body: () => ({ invitation_id: f.invitation, decision: true, client_id: [] }), status: 400, field: 'client_id' },
      ],
      control: { status: 201, appends: true },
    },
    {
      name: 'POST /api/chat/mychats/groups/',
      method: 'POST',
      template: '/api/chat/mychats/groups/',
      caller: () => f.alice.api,
      valid: () => ({ name: 'Tea party' }),
      cases: chatNameCases,
      control: { status: 201, appends: true },
    },
    {
      name: 'POST /api/chat/{chat}/ (add a participant)',
      method: 'POST',
      template: '/api/chat/{chat}/',
      params: () => ({ chat: f.group }),
      caller: () => f.alice.api,
      valid: () => ({ user_uuid: f.bob.id }),
      cases: uuidFieldCases('user_uuid', () => f.bob.id),
      control: { status: 200, appends: true },
    },
    {
      name: 'PATCH /api/chat/{chat}/ (rename)',
      method: 'PATCH',
      template: '/api/chat/{chat}/',
      params: () => ({ chat: f.group }),
      caller: () => f.alice.api,
      valid: () => ({ name: 'Renamed group' }),
      cases: chatNameCases,
      control: { status: 200, appends: true },
    },
    {
      name: 'DELETE /api/chat/{chat}/participants/{user}/',
      method: 'DELETE',
      template: '/api/chat/{chat}/participants/{user}/',
      params: () => ({ chat: f.group2, user: f.bob.id }),
      caller: () => f.alice.api,
      control: { status: 200, appends: true },
    },
    {
      name: 'POST /api/chat/{chat}/messages/',
      method: 'POST',
      template: '/api/chat/{chat}/messages/',
      params: () => ({ chat: f.privateChat }),
      caller: () => f.alice.api,
      valid: () => ({ message: 'hello' }),
      cases: contentCases('message'),
      control: { status: 201, appends: true },
    },
    {
      name: 'PATCH /api/chat/{chat}/messages/{message}/',
      method: 'PATCH',
      template: '/api/chat/{chat}/messages/{message}/',
      params: () => ({ chat: f.privateChat, message: String(f.m1) }),
      caller: () => f.alice.api,
      valid: () => ({ message: 'first, edited' }),
      cases: contentCases('message'),
      control: { status: 200, appends: true },
    },
    {
      name: 'DELETE /api/chat/{chat}/messages/{message}/',
      method: 'DELETE',
      template: '/api/chat/{chat}/messages/{message}/',
      params: () => ({ chat: f.privateChat, message: String(f.m1) }),
      caller: () => f.alice.api,
      // its own message: a bad request that wrongly deleted m1 must not fail the control too
      control: { status: 200, appends: true, params: () => ({ chat: f.privateChat, message: String(f.m3) }) },
    },
    {
      name: 'POST /api/chat/{chat}/read/',
      method: 'POST',
      template: '/api/chat/{chat}/read/',
      params: () => ({ chat: f.privateChat }),
      caller: () => f.bob.api,
      valid: () => ({ message_id: f.m2 }),
      cases: [
        { name: 'message_id missing', body: {}, status: 400, field: 'message_id' },
        { name: 'message_id a string', body: () => ({ message_id: String(f.m2) }), status: 400, field: 'message_id' },
        { name: 'message_id null', body: { message_id: null }, status: 400, field: 'message_id' },
        { name: 'message_id zero', body: { message_id: 0 }, status: 400, field: 'message_id' },
        { name: 'message_id negative', body: { message_id: -1 }, status: 400, field: 'message_id' },
        { name: 'message_id a fraction', body: () => ({ message_id: f.m2 + 0.5 }), status: 400, field: 'message_id' },
        { name: 'message_id a boolean', body: { message_id: true }, status: 400, field: 'message_id' },
        { name: 'message_id in an array', body: () => ({ message_id: [f.m2] }), status: 400, field: 'message_id' },
        { name: 'client_id not a UUID', body: () => ({ message_id: f.m2, client_id: 'x' }), status: 400, field: 'client_id' },
      ],
      control: {
        status: 200,
        appends: true,
        then: async (reply) => expect(reply.body.position, 'a position').to.match(/^\d+$/),
      },
    },
  ];

  describe('without a valid token', () => {
    const authenticated = endpoints.filter((e) => !['/api/rest-auth/registration/', '/api/rest-auth/login/'].includes(e.template));
    const anonymous = () => client(backend.url);
    /** what the Authorization header says, and the code the 401 must carry */
    const credentials: Array<[string, Record<string, string>, string]> = [
      ['no Authorization header', {}, 'not_authenticated'],
      ['another scheme', { authorization: 'Basic YWxpY2U6c2VjcmV0' }, 'not_authenticated'],
      ['an unknown token', { authorization: 'Token 0123456789abcdef0123456789abcdef' }, 'invalid_token'],
      ['an unknown bearer token', { authorization: 'Bearer 0123456789abcdef0123456789abcdef' }, 'invalid_token'],
    ];

    const currentUser: Endpoint = { name: 'GET /api/user/currentuser/', method: 'GET', template: '/api/user/currentuser/', caller: () => api, control: { status: 200, appends: false } };
    for (const endpoint of [currentUser, ...authenticated]) {
      for (const [what, headers, code] of credentials) {
        it(`${endpoint.name} with ${what}: 401 ${code}`, async () => {
          const head = await backend.logHead();
          const body = ['GET', 'DELETE'].includes(endpoint.method) ? undefined : (endpoint.valid?.() ?? {});
          const reply = await anonymous().raw(endpoint.method, pathOf(endpoint), body, headers);
          expect(reply.status, JSON.stringify(reply.body)).to.equal(401);
          expectErrorShape(reply);
          expect(reply.body).to.have.all.keys('detail', 'code');
          expect(reply.body.code).to.equal(code);
          expect(reply.headers.get('www-authenticate'), 'names the scheme').to.match(/^Token/);
          expect(await backend.logHead(), 'the event log grew').to.equal(head);
        });
      }
    }
  });

  for (const endpoint of endpoints) {
    describe(endpoint.name, () => {
      // DELETE requests have no body to parse
      const cases = [...(endpoint.cases ?? []), ...(endpoint.method === 'DELETE' ? [] : parserCases(endpoint)), ...pathCases(endpoint)];
      for (const bad of cases) {
        const status = Array.isArray(bad.status) ? bad.status.join(' or ') : String(bad.status);
        const code = bad.code ?? (bad.field ? `invalid, fields.${bad.field}` : '');
        it(`${bad.name}: ${status}${code ? ` ${code}` : ''}`, async () => {
          await expectRefused(endpoint, bad);
          const plain: Record<string, unknown> = {};
          for (const key of ['polluted', 'is_admin', ...Object.keys(endpoint.valid?.() ?? {})]) expect(plain[key], `Object.prototype.${key} polluted`).to.equal(undefined);
        });
      }

      it(`control: the valid request answers ${endpoint.control.status}${endpoint.control.appends ? ' and appends' : ''}`, async () => {
        const head = await backend.logHead();
        const { params } = endpoint.control;
        const reply = await send(endpoint, params ? { path: pathOf({ ...endpoint, params }) } : {});
        expect(reply.status, JSON.stringify(reply.body)).to.equal(endpoint.control.status);
        const after = await backend.logHead();
        if (endpoint.control.appends) {
          expect(after > head, 'the valid request appended').to.equal(true);
          expect(reply.body.position, 'the answer names the position').to.equal(String(after));
        }
        await endpoint.control.then?.(reply);
      });
    });
  }

  describe('a refused registration leaves its email free', () => {
    const spoilers: Array<[string, Record<string, unknown>]> = [
      ['passwords that differ', { password2: 'something else entirely' }],
      ['a weak password', { password1: '1234567890', password2: '1234567890' }],
      ['a username of 51 characters', { username: 'u'.repeat(51) }],
      ['a username with a NUL character', { username: 'nul\u0000here' }],
    ];
    for (const [what, spoil] of spoilers) {
      it(`after ${what}, the same email registers: 201`, async () => {
        const valid = newRegistration();
        const refused = await api.post('/api/rest-auth/registration/', { ...valid, ...spoil });
        expect(refused.status, JSON.stringify(refused.body)).to.equal(400);
        const registered = await api.post('/api/rest-auth/registration/', valid);
        expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
        expect((await api.post('/api/rest-auth/login/', { email: valid.email, password: PASSWORD })).status).to.equal(200);
      });
    }
  });

  describe('message length is counted in characters, as the contract says', () => {
    // 😀 is one character and two UTF-16 code units
    const cases: Array<[string, string, number]> = [
      ['4,000 emoji: 201', '😀'.repeat(4000), 201],
      ['4,001 emoji: 413', '😀'.repeat(4001), 413],
      ['3,999 letters and an emoji: 201', `${'a'.repeat(3999)}😀`, 201],
    ];
    for (const [what, message, status] of cases) {
      it(what, async () => {
        const head = await backend.logHead();
        const reply = await f.alice.api.post(`/api/chat/${f.privateChat}/messages/`, { message });
        expect(reply.status, JSON.stringify(reply.body).slice(0, 200)).to.equal(status);
        const grew = (await backend.logHead()) > head;
        expect(grew, 'appended').to.equal(status === 201);
        if (status === 201) expect(reply.body.message.content).to.equal(message);
      });
    }
  });
});
