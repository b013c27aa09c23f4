import { randomUUID } from 'node:crypto';
import type { ActionCreate, CommentCreate, DestinationCreate, FieldCreate, FieldUpdate, IncidentCreate, IncidentUpdate, SelectValueInput } from './bodies.js';
import { isSelect } from './bodies.js';
import { PlatformError } from './errors.js';
import { hasValue, normaliseFieldValue } from './field-values.js';
import type { Action, FieldDef, Incident, MessageDestination, Note, Org, SelectValue, TypeDef, User, ViewItem } from './model.js';
import { seed, type SeedData } from './seed.js';

/** Options of {@link EmulatorStore.updateIncident}. */
export interface UpdateOptions {
  /**
   * Asked once the body is known to be valid: true answers 409 whatever the
   * `vers` (the "conflicts" fault, standing in for another user's edit).
   */
  forceConflict?: () => boolean;
  now?: number;
}

/**
 * The emulated organisation's data, in memory. Every method returns copies, so
 * neither a route nor a test can change stored state by accident, and every
 * rule the platform enforces (required fields, select values, `vers`, unique
 * names) is checked here, with a {@link PlatformError} naming what is wrong.
 *
 * @example
 * const store = new EmulatorStore(seed(201));
 * const inc = store.incident(2095);
 * store.updateIncident(2095, { ...inc, severity_code: 6 }); // vers 1 → 2
 */
export class EmulatorStore {
  private data!: SeedData;
  private next!: { incident: number; note: number; field: number; selectValue: number; destination: number; action: number; user: number };
  private readonly destinationListeners = new Set<(destination: MessageDestination) => void>();

  constructor(initial: SeedData = seed()) {
    this.load(initial);
  }

  /** Replaces everything with `data` (default: a fresh {@link seed} for the same org). */
  reset(data: SeedData = seed(this.data.org.id)): void {
    this.load(data);
    for (const destination of this.data.destinations) this.emitDestination(destination);
  }

  /** The organisation served. */
  get org(): Org {
    return { ...this.data.org };
  }

  // ---- users -------------------------------------------------------------

  /** All users. */
  users(): User[] {
    return clone(this.data.users);
  }

  /** A user by id, or undefined. */
  user(id: number): User | undefined {
    const user = this.data.users.find((u) => u.id === id);
    return user && { ...user };
  }

  /** The user that invokes actions from the emulated UI (the first one). */
  invoker(): User {
    const first = this.data.users[0];
    if (!first) throw new Error('the emulator has no users; seed data needs at least one');
    return { ...first };
  }

  /** The user with this email, created when unknown (for configured logins). */
  ensureUser(email: string): User {
    const existing = this.data.users.find((u) => u.email.toLowerCase() === email.toLowerCase());
    if (existing) return { ...existing };
    const local = email.split('@')[0] ?? email;
    const user: User = { id: this.next.user++, email, fname: local, lname: 'User' };
    this.data.users.push(user);
    return { ...user };
  }

  // ---- incidents ---------------------------------------------------------

  /** All incidents. */
  incidents(): Incident[] {
    return clone(this.data.incidents);
  }

  /** An incident; 404 when unknown. */
  incident(id: number): Incident {
    return clone(this.findIncident(id));
  }

  /** Creates an incident (`name` required); answers it with `vers` 1. */
  createIncident(body: IncidentCreate, now = Date.now()): Incident {
    const values = this.incidentValues(body);
    const incident: Incident = {
      ...values,
      id: this.next.incident++,
      name: body.name,
      description: (values['description'] as string | undefined) ?? null,
      discovered_date: body.discovered_date ?? now,
      create_date: now,
      inc_last_modified_date: now,
      severity_code: (values['severity_code'] as number | undefined) ?? null,
      plan_status: (values['plan_status'] as string | undefined) ?? 'A',
      vers: 1,
      properties: (values['properties'] as Record<string, unknown> | undefined) ?? {},
      inc_training: body.inc_training ?? false,
      org_id: this.data.org.id,
    };
    this.data.incidents.push(incident);
    return clone(incident);
  }

  /**
   * Updates an incident. The body must carry the stored `vers`, else 409
   * (someone else changed it since the client read it); on success `vers`
   * goes up by one. Properties sent are merged into the stored ones and
   * unknown top-level properties are kept.
   */
  updateIncident(id: number, body: IncidentUpdate, options: UpdateOptions = {}): Incident {
    const stored = this.findIncident(id);
    if (body.id !== undefined && body.id !== id) {
      throw PlatformError.badRequest(`field "id": ${body.id} does not match incident ${id} in the URL`);
    }
    const values = this.incidentValues(body);
    if (options.forceConflict?.()) {
      throw PlatformError.conflict(
        `incident ${id} was changed by someone else (emulated conflict): you sent vers ${body.vers}, the stored vers is ${stored.vers}; GET it again and re-apply your change`,
      );
    }
    if (body.vers !== stored.vers) {
      throw PlatformError.conflict(
        `incident ${id} was changed since you read it: you sent vers ${body.vers}, the stored vers is ${stored.vers}; GET it again and re-apply your change`,
      );
    }
    const { properties, ...rest } = values;
    const updated: Incident = {
      ...stored,
      ...rest,
      properties: { ...stored.properties, ...((properties as Record<string, unknown> | undefined) ?? {}) },
      // What the server owns is not the client's to change.
      id: stored.id,
      create_date: stored.create_date,
      org_id: stored.org_id,
      vers: stored.vers + 1,
      inc_last_modified_date: options.now ?? Date.now(),
    };
    this.data.incidents[this.data.incidents.indexOf(stored)] = updated;
    return clone(updated);
  }

  // ---- notes -------------------------------------------------------------

  /** The notes of an incident; 404 when the incident is unknown. */
  notes(incidentId: number): Note[] {
    this.findIncident(incidentId);
    return clone(this.data.notes.filter((n) => n.inc_id === incidentId));
  }

  /** A note of an incident; 404 when either is unknown. */
  note(incidentId: number, noteId: number): Note {
    const note = this.notes(incidentId).find((n) => n.id === noteId);
    if (!note) throw PlatformError.notFound(`note ${noteId} of incident ${incidentId}`);
    return note;
  }

  /** Adds a note to an incident. Rich text is stored as its content. */
  addNote(incidentId: number, body: CommentCreate, userId: number | null, now = Date.now()): Note {
    this.findIncident(incidentId);
    if (body.parent_id != null && !this.data.notes.some((n) => n.id === body.parent_id && n.inc_id === incidentId)) {
      throw PlatformError.badRequest(`field "parent_id": note ${body.parent_id} is not a note of incident ${incidentId}`);
    }
    const text = typeof body.text === 'string' ? body.text : body.text.content;
    if (text.trim() === '') throw PlatformError.badRequest('field "text": must not be empty');
    const note: Note = { id: this.next.note++, text, create_date: now, user_id: userId, inc_id: incidentId, parent_id: body.parent_id ?? null };
    this.data.notes.push(note);
    return clone(note);
  }

  // ---- types and fields --------------------------------------------------

  /** All types, keyed by name. */
  types(): Record<string, TypeDef> {
    return clone(this.data.types);
  }

  /** A type by name or id; 404 when unknown. */
  type(nameOrId: string | number): TypeDef {
    return clone(this.findType(nameOrId));
  }

  /** A type's fields. */
  fields(typeName: string | number): FieldDef[] {
    return Object.values(this.type(typeName).fields);
  }

  /** A field by id or name; 404 when unknown. */
  field(typeName: string | number, idOrName: string | number): FieldDef {
    return clone(this.findField(this.findType(typeName), idOrName));
  }

  /** Creates a custom field (stored under `properties`); 409 when the name is taken. */
  createField(typeName: string | number, body: FieldCreate): FieldDef {
    const type = this.findType(typeName);
    if (type.fields[body.name]) throw PlatformError.conflict(`type ${type.type_name} already has a field named "${body.name}"`);
    const { required, values, text, tooltip, placeholder, ...extra } = body;
    const field: FieldDef = {
      ...extra,
      id: this.next.field++,
      name: body.name,
      text: text ?? body.name,
      input_type: body.input_type,
      required: required === true || required === 'always',
      prefix: 'properties',
      type_id: type.type_id,
      values: isSelect(body.input_type) ? this.selectValues(values ?? [], []) : [],
      tooltip: tooltip ?? '',
      placeholder: placeholder ?? '',
      internal: false,
    };
    type.fields[field.name] = field;
    return clone(field);
  }

  /** Updates a field; what the body leaves out is kept. Select values keep their ids by `value`. */
  updateField(typeName: string | number, idOrName: string | number, body: FieldUpdate): FieldDef {
    const type = this.findType(typeName);
    const stored = this.findField(type, idOrName);
    if (body.id !== undefined && body.id !== stored.id) {
      throw PlatformError.badRequest(`field "id": ${body.id} does not match field ${stored.id} in the URL`);
    }
    const name = body.name ?? stored.name;
    if (name !== stored.name) {
      if (stored.prefix === null) throw PlatformError.badRequest(`field "name": built-in field "${stored.name}" cannot be renamed`);
      if (type.fields[name]) throw PlatformError.conflict(`type ${type.type_name} already has a field named "${name}"`);
    }
    const inputType = body.input_type ?? stored.input_type;
    const { required, values, id: _id, name: _name, input_type: _inputType, ...rest } = body;
    const nextValues = !isSelect(inputType) ? [] : values ? this.selectValues(values, stored.values) : stored.values;
    if (isSelect(inputType) && nextValues.length === 0) {
      throw PlatformError.badRequest('field "values": a select or multiselect field needs at least one value');
    }
    const updated: FieldDef = {
      ...stored,
      ...stripNullish(rest),
      id: stored.id,
      name,
      input_type: inputType,
      required: required === undefined ? stored.required : required === true || required === 'always',
      prefix: stored.prefix,
      type_id: type.type_id,
      values: nextValues,
    };
    delete type.fields[stored.name];
    type.fields[name] = updated;
    return clone(updated);
  }

  // ---- message destinations ----------------------------------------------

  /** All message destinations. */
  destinations(): MessageDestination[] {
    return clone(this.data.destinations);
  }

  /** A destination by id or programmatic name; 404 when unknown. */
  destination(idOrName: string | number): MessageDestination {
    return clone(this.findDestination(idOrName));
  }

  /**
   * Creates a destination: a queue expecting acknowledgements unless told
   * otherwise. The programmatic name is derived from the name when absent;
   * 409 when either is taken.
   */
  createDestination(body: DestinationCreate): MessageDestination {
    const programmaticName = body.programmatic_name ?? programmaticFrom(body.name ?? '');
    if (!programmaticName) {
      throw PlatformError.badRequest(`field "programmatic_name": cannot derive one from name ${JSON.stringify(body.name)}; give it explicitly`);
    }
    const name = body.name ?? programmaticName;
    if (this.data.destinations.some((d) => d.programmatic_name === programmaticName)) {
      throw PlatformError.conflict(`a message destination with programmatic name "${programmaticName}" already exists`);
    }
    if (this.data.destinations.some((d) => d.name === name)) {
      throw PlatformError.conflict(`a message destination named "${name}" already exists`);
    }
    const destination: MessageDestination = {
      id: this.next.destination++,
      name,
      programmatic_name: programmaticName,
      destination_type: body.destination_type ?? 0,
      expect_ack: body.expect_ack ?? true,
      users: body.users ?? [],
      api_keys: body.api_keys ?? [],
      uuid: randomUUID(),
    };
    this.data.destinations.push(destination);
    this.emitDestination(destination);
    return clone(destination);
  }

  /**
   * Calls `listener` for every destination created from now on (and for all
   * of them after a {@link reset}). The trigger side subscribes to each
   * destination's reply queue this way.
   */
  onDestinationCreated(listener: (destination: MessageDestination) => void): () => void {
    this.destinationListeners.add(listener);
    return () => this.destinationListeners.delete(listener);
  }

  // ---- actions -----------------------------------------------------------

  /** All actions. */
  actions(): Action[] {
    return clone(this.data.actions);
  }

  /** An action by id or name; 404 when unknown. */
  action(idOrName: string | number): Action {
    return clone(this.findAction(idOrName));
  }

  /**
   * Creates an action. Its name must be unique, its destinations must exist
   * and its layout may only hold existing action fields.
   */
  createAction(body: ActionCreate): Action {
    if (this.data.actions.some((a) => a.name === body.name)) throw PlatformError.conflict(`an action named "${body.name}" already exists`);
    if (body.programmatic_name && this.data.actions.some((a) => a.programmatic_name === body.programmatic_name)) {
      throw PlatformError.conflict(`an action with programmatic name "${body.programmatic_name}" already exists`);
    }
    const destinations = (body.message_destinations ?? []).map((ref) => {
      const found = this.data.destinations.find((d) => d.programmatic_name === ref || d.id === ref || d.name === ref);
      if (!found) throw PlatformError.badRequest(`field "message_destinations": unknown message destination ${JSON.stringify(ref)}`);
      return found.programmatic_name;
    });
    const actionFields = this.findType('actioninvocation').fields;
    const viewItems: ViewItem[] = [
      ...(body.view_items ?? []).map((v) => ({
        element: v.element,
        field_type: v.field_type ?? (v.element === 'field' ? 'actioninvocation' : null),
        content: v.content,
        show_if: v.show_if ?? null,
        show_link_header: v.show_link_header ?? false,
      })),
      ...(body.fields ?? []).map((content): ViewItem => ({ element: 'field', field_type: 'actioninvocation', content, show_if: null, show_link_header: false })),
    ];
    for (const [index, item] of viewItems.entries()) {
      if (item.element === 'field' && item.field_type === 'actioninvocation' && !actionFields[item.content]) {
        throw PlatformError.badRequest(`field "view_items.${index}.content": "${item.content}" is not an action field (create it in type actioninvocation first)`);
      }
    }
    const action: Action = {
      id: this.next.action++,
      name: body.name,
      ...(body.programmatic_name ? { programmatic_name: body.programmatic_name } : {}),
      type: body.type,
      object_type: body.object_type,
      enabled: body.enabled ?? true,
      logic_type: body.logic_type ?? 'all',
      conditions: (body.conditions ?? []).map((c) => ({ ...c })),
      automations: body.automations ?? [],
      message_destinations: destinations,
      view_items: viewItems,
      timeout_seconds: body.timeout_seconds ?? 86400,
      uuid: randomUUID(),
    };
    this.data.actions.push(action);
    return clone(action);
  }

  /** Names of the action fields on an action's layout. */
  layoutFields(action: Action): string[] {
    return action.view_items.filter((v) => v.element === 'field' && v.field_type === 'actioninvocation').map((v) => v.content);
  }

  /**
   * Checks and converts the properties of an action invocation: each must be
   * an action field, select values may be labels, and the required fields on
   * the action's layout must be filled in.
   */
  actionProperties(action: Action, input: Record<string, unknown>): Record<string, unknown> {
    const fields = this.findType('actioninvocation').fields;
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(input)) {
      const field = fields[name];
      if (!field) throw PlatformError.badRequest(`property "${name}" is not an action field (known: ${Object.keys(fields).join(', ') || 'none'})`);
      out[name] = normaliseFieldValue(field, value, { allowLabels: true });
    }
    for (const name of this.layoutFields(action)) {
      if (fields[name]?.required && !hasValue(out[name])) {
        throw PlatformError.badRequest(`property "${name}" is required by action "${action.name}"`);
      }
    }
    return out;
  }

  // ---- internals ---------------------------------------------------------

  private load(data: SeedData): void {
    this.data = clone(data);
    const maxOf = (ids: number[], floor: number) => Math.max(floor, ...ids) + 1;
    const fields = Object.values(this.data.types).flatMap((t) => Object.values(t.fields));
    this.next = {
      incident: maxOf(this.data.incidents.map((i) => i.id), 2000),
      note: maxOf(this.data.notes.map((n) => n.id), 0),
      field: maxOf(fields.map((f) => f.id), 999),
      selectValue: maxOf(fields.flatMap((f) => f.values.map((v) => v.value)).filter((v): v is number => typeof v === 'number'), 99),
      destination: maxOf(this.data.destinations.map((d) => d.id), 0),
      action: maxOf(this.data.actions.map((a) => a.id), 0),
      user: maxOf(this.data.users.map((u) => u.id), 0),
    };
  }

  private emitDestination(destination: MessageDestination): void {
    for (const listener of this.destinationListeners) listener(clone(destination));
  }

  private findIncident(id: number): Incident {
    const incident = this.data.incidents.find((i) => i.id === id);
    if (!incident) throw PlatformError.notFound(`incident ${id}`);
    return incident;
  }

  private findType(nameOrId: string | number): TypeDef {
    const type = Object.values(this.data.types).find((t) => t.type_name === nameOrId || String(t.type_id) === String(nameOrId));
    if (!type) throw PlatformError.notFound(`type ${JSON.stringify(nameOrId)}`);
    return type;
  }

  private findField(type: TypeDef, idOrName: string | number): FieldDef {
    const field = Object.values(type.fields).find((f) => f.name === idOrName || String(f.id) === String(idOrName));
    if (!field) throw PlatformError.notFound(`field ${JSON.stringify(idOrName)} of type ${type.type_name}`);
    return field;
  }

  private findDestination(idOrName: string | number): MessageDestination {
    const destination = this.data.destinations.find((d) => d.programmatic_name === idOrName || String(d.id) === String(idOrName));
    if (!destination) throw PlatformError.notFound(`message destination ${JSON.stringify(idOrName)}`);
    return destination;
  }

  private findAction(idOrName: string | number): Action {
    const action = this.data.actions.find((a) => a.name === idOrName || String(a.id) === String(idOrName));
    if (!action) throw PlatformError.notFound(`action ${JSON.stringify(idOrName)}`);
    return action;
  }

  /**
   * Checks an incident body's values against the incident type: built-in
   * fields at the top level, custom ones under `properties`. Unknown keys are
   * kept as they are, as the platform does.
   */
  private incidentValues(body: IncidentCreate | IncidentUpdate): Record<string, unknown> {
    const type = this.findType('incident');
    const { vers: _vers, id: _id, properties, ...rest } = body as IncidentUpdate;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(rest)) {
      if (value === undefined) continue;
      const field = type.fields[key];
      if (key === 'description' && value !== null && typeof value === 'object') out[key] = (value as { content: string }).content;
      else if (field && field.prefix === null && isSelect(field.input_type)) out[key] = normaliseFieldValue(field, value);
      else out[key] = value;
    }
    if (properties) {
      const props: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(properties)) {
        const field = type.fields[key];
        props[key] = field && field.prefix === 'properties' ? normaliseFieldValue(field, value) : value;
      }
      out['properties'] = props;
    }
    return out;
  }

  /** Builds select values, keeping ids of values that already exist and giving new ones fresh ids. */
  private selectValues(input: SelectValueInput[], existing: SelectValue[]): SelectValue[] {
    const labels = new Set<string>();
    return input.map((v, index) => {
      if (labels.has(v.label)) throw PlatformError.badRequest(`field "values.${index}.label": "${v.label}" appears twice`);
      labels.add(v.label);
      const kept = v.value !== undefined ? existing.find((e) => String(e.value) === String(v.value)) : existing.find((e) => e.label === v.label);
      return {
        value: v.value ?? kept?.value ?? this.next.selectValue++,
        label: v.label,
        enabled: v.enabled ?? true,
        hidden: v.hidden ?? false,
        default: v.default ?? false,
      };
    });
  }
}

/** `"Incident Ops!"` → `"incident_ops"`, as the platform's UI derives programmatic names. */
function programmaticFrom(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function stripNullish(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined && v !== null));
}

function clone<T>(value: T): T {
  return structuredClone(value);
}
