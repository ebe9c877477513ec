/**
 * A command refused by a rule of the domain. `kind` says what sort of refusal it is; the HTTP
 * layer turns it into a status, the gateway into an error acknowledgement.
 */
export type RefusalKind = 'invalid' | 'forbidden' | 'not_found' | 'conflict' | 'not_acceptable';

export class DomainError extends Error {
  constructor(
    readonly kind: RefusalKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const refuse = (kind: RefusalKind, code: string, message: string): never => {
  throw new DomainError(kind, code, message);
};
