// The README's quick start as a frontend team writes it, against the types that
// openapi-typescript generates from openapi/openapi.json (schema.d.ts, not committed).
// `.ci/openapi` only type-checks it: it fails to compile when an operation, its id or a
// field used here disappears or changes type.
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./schema";

type Ticket = components["schemas"]["TicketView"];
type TicketFilters = NonNullable<operations["listTickets"]["parameters"]["query"]>;
type SignedIn = operations["login"]["responses"][200]["content"]["application/json"];
type NewCustomer = operations["createCustomer"]["requestBody"]["content"]["application/json"];
type Customer = operations["getCustomer"]["responses"][200]["content"]["application/json"];

export async function quickStart(baseUrl: string, email: string, password: string): Promise<Ticket[]> {
  const braid = createClient<paths>({ baseUrl });

  // Sign in: the access token is the bearer token of every later call.
  const login = await braid.POST("/v1/auth/login", { body: { email, password } });
  if (login.error) throw new Error(`sign-in failed: ${login.error.code}: ${login.error.detail ?? ""}`);
  const tokens: SignedIn = login.data;
  const headers = { Authorization: `${tokens.token_type} ${tokens.access_token}` };

  // Create a customer with an email identity.
  const body: NewCustomer = { name: "Ana Lima", identities: [{ kind: "email", value: "ana@example.org" }] };
  const created = await braid.POST("/v1/customers", { body, headers });
  if (created.error) throw new Error(`create customer: ${created.error.code}`);
  const customer: Customer = created.data;
  const address: string | undefined = customer.identities[0]?.value;
  console.log(`customer ${customer.id} <${address ?? "?"}>`);

  // List open tickets, page by page.
  const tickets: Ticket[] = [];
  let cursor: string | undefined;
  do {
    const query: TicketFilters = { status: "open", sort: "-updated_at", limit: 50, ...(cursor ? { cursor } : {}) };
    const page = await braid.GET("/v1/tickets", { params: { query }, headers });
    if (page.error) throw new Error(`list tickets: ${page.error.code}`);
    tickets.push(...page.data.data);
    cursor = page.data.next_cursor ?? undefined;
  } while (cursor);
  for (const ticket of tickets) console.log(`#${ticket.number} ${ticket.status} ${ticket.subject}`);
  return tickets;
}
