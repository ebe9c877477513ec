/** A slice of a list, as LimitOffsetPagination asks for it. */
export interface PageRequest {
  limit: number;
  offset: number;
}

/** The slice and the size of the whole list; the HTTP layer adds the links. */
export interface Page<T> {
  count: number;
  results: T[];
}
