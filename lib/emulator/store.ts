import { createHash, randomUUID } from 'node:crypto';
import type {
  ActionCreate,
  ActionUpdate,
  ArtifactCreate,
  ArtifactFileCreate,
  ArtifactTypeRef,
  ArtifactUpdate,
  CommentCreate,
  ConditionInput,
  DestinationCreate,
  DestinationUpdate,
  FieldCreate,
  FieldUpdate,
  IncidentCreate,
  IncidentUpdate,
  SelectValueInput,
  TaskCreate,
  ViewItemInput,
} from './bodies.js';
import { isSelect, OBJECT_METHODS } from './bodies.js';
import { PlatformError } from './errors.js';
import { hasValue, normaliseFieldValue } from './field-values.js';
import type { Action, ActionCondition, Artifact, FieldDef, Incident, MessageDestination, Note, ObjectType, Org, SelectValue, Task, TypeDef, User, ViewItem } from './model.js';
import { ARTIFACT_TYPES, seed, type SeedData } from './seed.js';

/** Options of the store's update methods for objects with a `vers`. */
export interface UpdateOptions {
  /**
   * Asked once the body is known to be valid: true answers 409 whatever the
   * `vers` (the "conflicts" fault, standing in for another user's edit).
   */
  forceConflict?: () => boolean;
  now?: number;
}

/** Condition methods that compare the field with the condition's value (so select labels become ids). */
const VALUE_METHODS = new Set(['equals', 'not_equals', 'changed_to', 'not_changed_to', 'contains', 'not_contains', 'in', 'not_in']);

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
  private readonly initial: SeedData;
  private next!: {
    incident: number;
    note: number;
    artifact: number;
    task: number;
    field: number;
    selectValue: number;
    destination: number;
    action: number;
    user: number;
  };
  private readonly destinationListeners = new Set<(destination: MessageDestination) => void>();

  constructor(initial: SeedData = seed()) {
    this.initial = clone(initial);
    this.load(initial);
  }

  /** Replaces everything with `data` (default: the data the store started with). */
  reset(data: SeedData = this.initial): void {
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
    checkVers(`incident ${id}`, body.vers, stored.vers, options);
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

  // ---- artifacts ---------------------------------------------------------

  /** The artifacts of an incident; 404 when the incident is unknown. */
  artifacts(incidentId: number): Artifact[] {
    this.findIncident(incidentId);
    return clone(this.data.artifacts.filter((a) => a.inc_id === incidentId));
  }

  /** An artifact of an incident (or any artifact when `incidentId` is undefined); 404 when unknown. */
  artifact(incidentId: number | undefined, artifactId: number): Artifact {
    return clone(this.findArtifact(incidentId, artifactId));
  }

  /**
   * Adds an artifact that is not a file. Its type is checked against the
   * artifact type's `type` select (by id or name); attachment types must go
   * through {@link createFileArtifact}.
   */
  createArtifact(incidentId: number, body: ArtifactCreate, userId: number | null, now = Date.now()): Artifact {
    return this.addArtifact(incidentId, body, userId, now, undefined);
  }

  /** Adds an attachment artifact (a malware sample, an email attachment...) with its file content. */
  createFileArtifact(incidentId: number, body: ArtifactFileCreate, userId: number | null, now = Date.now()): Artifact {
    return this.addArtifact(incidentId, body, userId, now, { bytes: Buffer.from(body.content_base64, 'base64'), contentType: body.content_type ?? 'application/octet-stream' });
  }

  /** Both artifact creations: a file type needs its `file` (the files endpoint), any other type must come without. */
  private addArtifact(incidentId: number, body: ArtifactCreate | ArtifactFileCreate, userId: number | null, now: number, file: { bytes: Buffer; contentType: string } | undefined): Artifact {
    this.findIncident(incidentId);
    const type = this.artifactType(body.type, 'type');
    if (type.file && !file) {
      throw PlatformError.badRequest(`field "type": "${type.name}" artifacts hold a file; create them with POST /incidents/${incidentId}/artifacts/files`);
    }
    if (!type.file && file) {
      throw PlatformError.badRequest(`field "type": "${type.name}" artifacts hold no file; create them with POST /incidents/${incidentId}/artifacts`);
    }
    const artifact: Artifact = {
      ...stripKnown(body, ['id', 'type', 'value', 'description', 'properties', 'inc_id', 'attachment', ...(file ? ['content_base64', 'content_type'] : [])]),
      id: this.next.artifact++,
      type: type.id,
      value: body.value,
      description: richText(body.description),
      inc_id: incidentId,
      created: now,
      last_modified_time: now,
      creator_id: userId,
      attachment: file
        ? { name: body.value, content_type: file.contentType, size: file.bytes.length, sha256: createHash('sha256').update(file.bytes).digest('hex') }
        : null,
      properties: body.properties ?? {},
    };
    this.data.artifacts.push(artifact);
    if (file) this.data.artifactContents[String(artifact.id)] = file.bytes.toString('base64');
    return clone(artifact);
  }

  /**
   * Updates an artifact; what the body leaves out is kept, unknown keys are
   * kept. The type may change, but not between a file type and one without.
   */
  updateArtifact(incidentId: number, artifactId: number, body: ArtifactUpdate, now = Date.now()): Artifact {
    const stored = this.findArtifact(incidentId, artifactId);
    if (body.id !== undefined && body.id !== artifactId) {
      throw PlatformError.badRequest(`field "id": ${body.id} does not match artifact ${artifactId} in the URL`);
    }
    let typeId = stored.type;
    if (body.type !== undefined) {
      const type = this.artifactType(body.type, 'type');
      const was = ARTIFACT_TYPES.find((t) => t.id === stored.type);
      if (was && was.file !== type.file) {
        throw PlatformError.badRequest(`field "type": artifact ${artifactId} is a ${was.name}; it cannot become a ${type.name} (${type.file ? 'a file' : 'no file'})`);
      }
      typeId = type.id;
    }
    if (stored.attachment && body.value !== undefined && body.value !== stored.value) {
      throw PlatformError.badRequest(`field "value": the file name of attachment artifact ${artifactId} cannot be changed`);
    }
    const updated: Artifact = {
      ...stored,
      ...stripKnown(stripNullish(body), ['id', 'type', 'value', 'description', 'properties', 'inc_id', 'attachment', 'created', 'creator_id', 'last_modified_time']),
      type: typeId,
      value: body.value ?? stored.value,
      description: body.description === undefined ? stored.description : richText(body.description),
      properties: { ...stored.properties, ...(body.properties ?? {}) },
      last_modified_time: now,
    };
    this.data.artifacts[this.data.artifacts.indexOf(stored)] = updated;
    return clone(updated);
  }

  /** The file content of an attachment artifact; 404 when it has none. */
  artifactContent(incidentId: number, artifactId: number): Buffer {
    const artifact = this.findArtifact(incidentId, artifactId);
    const content = this.data.artifactContents[String(artifact.id)];
    if (!artifact.attachment || content === undefined) throw PlatformError.notFound(`file content of artifact ${artifactId} (a ${this.artifactTypeName(artifact.type)}, which holds no file)`);
    return Buffer.from(content, 'base64');
  }

  // ---- tasks -------------------------------------------------------------

  /** The tasks of an incident; 404 when the incident is unknown. */
  tasks(incidentId: number): Task[] {
    this.findIncident(incidentId);
    return clone(this.data.tasks.filter((t) => t.inc_id === incidentId));
  }

  /** A task by id (optionally checked to belong to an incident); 404 when unknown. */
  task(taskId: number, incidentId?: number): Task {
    const task = this.data.tasks.find((t) => t.id === taskId && (incidentId === undefined || t.inc_id === incidentId));
    if (!task) throw PlatformError.notFound(incidentId === undefined ? `task ${taskId}` : `task ${taskId} of incident ${incidentId}`);
    return clone(task);
  }

  /** Adds an open task to an incident. */
  createTask(incidentId: number, body: TaskCreate, now = Date.now()): Task {
    this.findIncident(incidentId);
    const instructions = body.instructions === undefined || body.instructions === null ? null : typeof body.instructions === 'string' ? body.instructions : body.instructions.content;
    const task: Task = {
      ...stripKnown(body, ['id', 'name', 'instructions', 'inc_id', 'status', 'active', 'due_date', 'owner_id', 'create_date']),
      id: this.next.task++,
      name: body.name,
      instructions,
      inc_id: incidentId,
      status: 'O',
      active: true,
      due_date: body.due_date ?? null,
      owner_id: body.owner_id ?? null,
      create_date: now,
    };
    this.data.tasks.push(task);
    return clone(task);
  }

  /**
   * The incident a note, artifact or task belongs to, and the object itself;
   * 404 when unknown (or, with `incidentId`, when it belongs to another incident).
   */
  objectOf(type: ObjectType, id: number, incidentId?: number): { incidentId: number; object: Record<string, unknown> } | undefined {
    if (type === 'note') {
      const note = this.data.notes.find((n) => n.id === id && (incidentId === undefined || n.inc_id === incidentId));
      if (!note) throw PlatformError.notFound(incidentId === undefined ? `note ${id}` : `note ${id} of incident ${incidentId}`);
      return { incidentId: note.inc_id, object: clone(note) as unknown as Record<string, unknown> };
    }
    if (type === 'artifact') {
      const artifact = this.findArtifact(incidentId, id);
      return { incidentId: artifact.inc_id, object: clone(artifact) };
    }
    if (type === 'task') {
      const task = this.task(id, incidentId);
      return { incidentId: task.inc_id, object: task };
    }
    // An incident is the message's `incident` itself; milestones and attachments are not stored.
    return undefined;
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
      vers: 1,
    };
    type.fields[field.name] = field;
    return clone(field);
  }

  /**
   * Updates a field; what the body leaves out is kept. Select values keep
   * their ids by `value` (or by label when the body gives none). The input
   * type cannot change once the field exists (400 naming `input_type`), and
   * a `vers` that is not the stored one answers 409.
   */
  updateField(typeName: string | number, idOrName: string | number, body: FieldUpdate, options: UpdateOptions = {}): FieldDef {
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
    const { required, values, id: _id, name: _name, input_type: _inputType, vers: _vers, ...rest } = body;
    if (isSelect(inputType) && values !== undefined && values.length === 0) {
      throw PlatformError.badRequest('field "values": a select or multiselect field needs at least one value');
    }
    if (inputType !== stored.input_type) {
      throw PlatformError.badRequest(
        `field "input_type": field "${stored.name}" is a ${stored.input_type} field; its input type cannot be changed to ${inputType} once it exists (delete it and create it again)`,
      );
    }
    const nextValues = !isSelect(inputType) ? [] : values ? this.selectValues(values, stored.values) : stored.values;
    checkVers(`field ${stored.id} ("${stored.name}")`, body.vers, stored.vers, options);
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
      vers: stored.vers + 1,
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
      vers: 1,
    };
    this.data.destinations.push(destination);
    this.emitDestination(destination);
    return clone(destination);
  }

  /**
   * Updates a destination; what the body leaves out is kept. Its
   * programmatic name cannot change (processors connect with it), its display
   * name must stay unique, and a `vers` that is not the stored one answers 409.
   */
  updateDestination(idOrName: string | number, body: DestinationUpdate, options: UpdateOptions = {}): MessageDestination {
    const stored = this.findDestination(idOrName);
    if (body.id !== undefined && body.id !== stored.id) {
      throw PlatformError.badRequest(`field "id": ${body.id} does not match message destination ${stored.id} in the URL`);
    }
    if (body.programmatic_name !== undefined && body.programmatic_name !== stored.programmatic_name) {
      throw PlatformError.badRequest(
        `field "programmatic_name": message destination ${stored.id} is "${stored.programmatic_name}"; a programmatic name cannot be changed once created`,
      );
    }
    const name = body.name ?? stored.name;
    if (name !== stored.name && this.data.destinations.some((d) => d.name === name)) {
      throw PlatformError.conflict(`a message destination named "${name}" already exists`);
    }
    checkVers(`message destination ${stored.id} ("${stored.programmatic_name}")`, body.vers, stored.vers, options);
    const { id: _id, vers: _vers, uuid: _uuid, ...rest } = body;
    const updated: MessageDestination = {
      ...stored,
      ...stripNullish(rest),
      id: stored.id,
      name,
      programmatic_name: stored.programmatic_name,
      destination_type: body.destination_type ?? stored.destination_type,
      expect_ack: body.expect_ack ?? stored.expect_ack,
      users: body.users ?? stored.users,
      api_keys: body.api_keys ?? stored.api_keys,
      uuid: stored.uuid,
      vers: stored.vers + 1,
    };
    this.data.destinations[this.data.destinations.indexOf(stored)] = updated;
    return clone(updated);
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
    const action: Action = {
      id: this.next.action++,
      name: body.name,
      ...(body.programmatic_name ? { programmatic_name: body.programmatic_name } : {}),
      type: body.type,
      object_type: body.object_type,
      enabled: body.enabled ?? true,
      logic_type: body.logic_type ?? 'all',
      conditions: this.actionConditions(body.object_type, body.conditions ?? []),
      automations: body.automations ?? [],
      message_destinations: this.actionDestinations(body.message_destinations ?? []),
      view_items: this.viewItems([...(body.view_items ?? []).map(viewItem), ...(body.fields ?? []).map(fieldItem)]),
      timeout_seconds: body.timeout_seconds ?? 86400,
      uuid: randomUUID(),
      vers: 1,
    };
    this.data.actions.push(action);
    return clone(action);
  }

  /**
   * Updates an action; what the body leaves out is kept. Its name must stay
   * unique, its destinations must exist, its layout may only hold existing
   * action fields, and whether it is automatic or manual and the object type
   * it is defined on cannot change. A `vers` that is not the stored one
   * answers 409.
   */
  updateAction(idOrName: string | number, body: ActionUpdate, options: UpdateOptions = {}): Action {
    const stored = this.findAction(idOrName);
    if (body.id !== undefined && body.id !== stored.id) {
      throw PlatformError.badRequest(`field "id": ${body.id} does not match action ${stored.id} in the URL`);
    }
    if (body.type !== undefined && body.type !== stored.type) {
      const kind = (t: number) => (t === 0 ? '0 (automatic)' : '1 (manual)');
      throw PlatformError.badRequest(`field "type": action "${stored.name}" is of type ${kind(stored.type)}; it cannot become ${kind(body.type)}`);
    }
    if (body.object_type !== undefined && body.object_type !== stored.object_type) {
      throw PlatformError.badRequest(`field "object_type": action "${stored.name}" is defined on ${stored.object_type} objects; it cannot move to ${body.object_type}`);
    }
    const name = body.name ?? stored.name;
    if (name !== stored.name && this.data.actions.some((a) => a.name === name)) throw PlatformError.conflict(`an action named "${name}" already exists`);
    if (body.programmatic_name && body.programmatic_name !== stored.programmatic_name && this.data.actions.some((a) => a.programmatic_name === body.programmatic_name)) {
      throw PlatformError.conflict(`an action with programmatic name "${body.programmatic_name}" already exists`);
    }
    let viewItems = stored.view_items;
    if (body.view_items !== undefined) viewItems = [...body.view_items.map(viewItem), ...(body.fields ?? []).map(fieldItem)];
    else if (body.fields !== undefined) viewItems = [...stored.view_items.filter((v) => !isActionField(v)), ...body.fields.map(fieldItem)];
    const conditions = body.conditions === undefined ? stored.conditions : this.actionConditions(stored.object_type, body.conditions);
    const destinations = body.message_destinations === undefined ? stored.message_destinations : this.actionDestinations(body.message_destinations);
    const checkedItems = this.viewItems(viewItems);
    checkVers(`action ${stored.id} ("${stored.name}")`, body.vers, stored.vers, options);
    const { id: _id, vers: _vers, uuid: _uuid, fields: _fields, ...rest } = body;
    const updated: Action = {
      ...stored,
      ...stripNullish(rest),
      id: stored.id,
      name,
      type: stored.type,
      object_type: stored.object_type,
      conditions,
      message_destinations: destinations,
      view_items: checkedItems,
      uuid: stored.uuid,
      vers: stored.vers + 1,
    };
    this.data.actions[this.data.actions.indexOf(stored)] = updated;
    return clone(updated);
  }

  /** Names of the action fields on an action's layout. */
  layoutFields(action: Action): string[] {
    return action.view_items.filter(isActionField).map((v) => v.content);
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
      artifact: maxOf(this.data.artifacts.map((a) => a.id), 0),
      task: maxOf(this.data.tasks.map((t) => t.id), 0),
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

  private findArtifact(incidentId: number | undefined, artifactId: number): Artifact {
    if (incidentId !== undefined) this.findIncident(incidentId);
    const artifact = this.data.artifacts.find((a) => a.id === artifactId && (incidentId === undefined || a.inc_id === incidentId));
    if (!artifact) throw PlatformError.notFound(incidentId === undefined ? `artifact ${artifactId}` : `artifact ${artifactId} of incident ${incidentId}`);
    return artifact;
  }

  /** An artifact type named by id, name or `{id|name}`; 400 naming `key` when unknown. */
  private artifactType(ref: ArtifactTypeRef, key: string): { id: number; name: string; file: boolean } {
    const field = this.findType('artifact').fields['type'];
    const wanted = typeof ref === 'object' ? (ref.id ?? ref.name) : ref;
    const value = field?.values.find((v) => String(v.value) === String(wanted) || v.label === wanted || v.label.toLowerCase() === String(wanted).toLowerCase());
    if (!field || !value) {
      const known = field?.values.map((v) => `${v.value} ${v.label}`).join(', ') ?? 'none';
      throw PlatformError.badRequest(`field "${key}": ${JSON.stringify(ref)} is not an artifact type (known: ${known})`);
    }
    const id = Number(value.value);
    return { id, name: value.label, file: ARTIFACT_TYPES.some((t) => t.id === id && t.file) };
  }

  private artifactTypeName(id: number): string {
    return this.findType('artifact').fields['type']?.values.find((v) => String(v.value) === String(id))?.label ?? `type ${id}`;
  }

  /** Destination references (programmatic name, id or display name) as programmatic names; 400 for unknown ones. */
  private actionDestinations(refs: Array<string | number>): string[] {
    return refs.map((ref, index) => {
      const found = this.data.destinations.find((d) => d.programmatic_name === ref || d.id === ref || d.name === ref);
      if (!found) throw PlatformError.badRequest(`field "message_destinations.${index}": unknown message destination ${JSON.stringify(ref)}`);
      return found.programmatic_name;
    });
  }

  /** Checks a layout: every field element must be an existing action field. */
  private viewItems(items: ViewItem[]): ViewItem[] {
    const actionFields = this.findType('actioninvocation').fields;
    for (const [index, item] of items.entries()) {
      if (isActionField(item) && !actionFields[item.content]) {
        throw PlatformError.badRequest(`field "view_items.${index}.content": "${item.content}" is not an action field (create it in type actioninvocation first)`);
      }
    }
    return items;
  }

  /**
   * Checks conditions against the object type the way the platform's rule
   * editor does: the field must be one of the type's, `in`/`not_in` take a
   * list, and select values (given by id or label) must be among the field's;
   * they are stored as ids.
   */
  private actionConditions(objectType: ObjectType, conditions: ConditionInput[]): ActionCondition[] {
    const type = this.findType(objectType);
    return conditions.map((c, index) => {
      const at = `conditions.${index}`;
      const out: ActionCondition = { field_name: c.field_name ?? null, method: c.method, value: c.value ?? null, type: c.type ?? null, evaluation_id: c.evaluation_id ?? null };
      if (c.field_name === undefined || c.field_name === null) {
        if (!OBJECT_METHODS.includes(c.method)) throw PlatformError.badRequest(`field "${at}.field_name": is required for method ${c.method}`);
        return out;
      }
      const name = c.field_name.startsWith(`${objectType}.`) ? c.field_name.slice(objectType.length + 1) : c.field_name;
      const field = type.fields[name.replace(/^properties\./, '')];
      if (!field) {
        throw PlatformError.badRequest(`field "${at}.field_name": "${c.field_name}" is not a field of ${objectType} (known: ${Object.keys(type.fields).join(', ')})`);
      }
      const list = c.method === 'in' || c.method === 'not_in';
      if (list && !Array.isArray(c.value)) throw PlatformError.badRequest(`field "${at}.value": method ${c.method} needs a list of values`);
      if (isSelect(field.input_type) && VALUE_METHODS.has(c.method) && c.value !== undefined && c.value !== null) {
        const one = (v: unknown) => {
          try {
            return normaliseFieldValue({ ...field, input_type: 'select' }, v, { allowLabels: true });
          } catch {
            const choices = field.values.map((s) => `${s.value} ${s.label}`).join(', ');
            throw PlatformError.badRequest(`field "${at}.value": ${JSON.stringify(v)} is not a value of ${objectType}.${field.name} (${choices})`);
          }
        };
        out.value = Array.isArray(c.value) ? c.value.map(one) : one(c.value);
      }
      return out;
    });
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

/**
 * The optimistic-concurrency check shared by every object with a `vers`: a
 * forced conflict (the fault) or a stale `vers` answers 409. Objects other
 * than incidents take a PUT without `vers` (last writer wins).
 */
function checkVers(what: string, sent: number | undefined, stored: number, options: UpdateOptions): void {
  if (options.forceConflict?.()) {
    throw PlatformError.conflict(`${what} was changed by someone else (emulated conflict): you sent vers ${sent}, the stored vers is ${stored}; GET it again and re-apply your change`);
  }
  if (sent !== undefined && sent !== stored) {
    throw PlatformError.conflict(`${what} was changed since you read it: you sent vers ${sent}, the stored vers is ${stored}; GET it again and re-apply your change`);
  }
}

function viewItem(v: ViewItemInput): ViewItem {
  return {
    element: v.element,
    field_type: v.field_type ?? (v.element === 'field' ? 'actioninvocation' : null),
    content: v.content,
    show_if: v.show_if ?? null,
    show_link_header: v.show_link_header ?? false,
  };
}

function fieldItem(content: string): ViewItem {
  return { element: 'field', field_type: 'actioninvocation', content, show_if: null, show_link_header: false };
}

function isActionField(item: ViewItem): boolean {
  return item.element === 'field' && item.field_type === 'actioninvocation';
}

/** Rich text (`{format, content}`) is stored as its content, like incident descriptions. */
function richText(value: string | { content: string } | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : value.content;
}

/** A body without the keys the store sets itself (unknown keys are kept, as the platform does). */
function stripKnown(record: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !keys.includes(k)));
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
