import type Koa from 'koa';
import type { Page, PageRequest } from '../queries/Page.ts';

/** This request's absolute URL with these query parameters set: a link to another page of the same answer. */
export function linkWith(ctx: Koa.Context, params: Record<string, string | number | bigint>): string {
  const url = new URL(ctx.href);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
  return url.toString();
}

/** A page as LimitOffsetPagination answers it, with absolute links to its neighbours (null at the ends). */
export function paginated<T>(ctx: Koa.Context, page: Page<T>, { limit, offset }: PageRequest) {
  const link = (to: number) => {
    const url = new URL(ctx.href);
    url.searchParams.set('limit', String(limit));
    if (to > 0) url.searchParams.set('offset', String(to));
    else url.searchParams.delete('offset');
    // sorted, as Django REST Framework writes them: one link per page whatever order the client used
    url.searchParams.sort();
    return url.toString();
  };
  return {
    count: page.count,
    next: offset + limit < page.count ? link(offset + limit) : null,
    previous: offset > 0 ? link(Math.max(offset - limit, 0)) : null,
    results: page.results,
  };
}
