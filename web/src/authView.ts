import type { Api } from './api.ts';
import { field, h, showError } from './dom.ts';

/** Log in or register; either way the server's key comes back to `done`. */
export function authView(api: Api, done: (key: string) => void): HTMLElement {
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = (action: (form: HTMLFormElement) => Promise<{ key: string }>) => async (event: SubmitEvent) => {
    event.preventDefault();
    showError(error, null);
    try {
      done((await action(event.currentTarget as HTMLFormElement)).key);
    } catch (problem) {
      showError(error, problem);
    }
  };
  const input = (name: string, label: string, type = 'text', autocomplete = 'off') =>
    h('label', {}, label, h('input', { name, type, autocomplete }));

  return h(
    'main',
    { class: 'auth' },
    h('h1', {}, 'Chat'),
    h(
      'div',
      { class: 'auth-forms' },
      h(
        'form',
        { class: 'login', onSubmit: submit((form) => api.login(field(form, 'email'), field(form, 'password'))) },
        h('h2', {}, 'Log in'),
        input('email', 'Email', 'email', 'username'),
        input('password', 'Password', 'password', 'current-password'),
        h('button', { type: 'submit' }, 'Log in'),
      ),
      h(
        'form',
        {
          class: 'register',
          onSubmit: submit((form) =>
            api.register({ email: field(form, 'email'), username: field(form, 'username') || undefined, password1: field(form, 'password1'), password2: field(form, 'password2') }),
          ),
        },
        h('h2', {}, 'Register'),
        input('email', 'Email', 'email', 'email'),
        input('username', 'Username (optional)'),
        input('password1', 'Password', 'password', 'new-password'),
        input('password2', 'Password again', 'password', 'new-password'),
        h('button', { type: 'submit' }, 'Register'),
      ),
    ),
    error,
  );
}
