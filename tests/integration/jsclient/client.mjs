// An Element-stack Matrix client for the integration tests: matrix-js-sdk with its Rust
// crypto (matrix-sdk-crypto as WebAssembly), driven over stdin/stdout.
//
//   HOMESERVER_URL=http://127.0.0.1:8008 USER_ID=@a:localhost PASSWORD=... node client.mjs
//
// stdin: one JSON command per line; stdout: one JSON event per line and nothing else.
// The SDK's warnings and errors go to stderr; JSCLIENT_DEBUG=1 adds its debug/info logs.
//
// Commands                                          Events written in answer
//   {"cmd":"join","room_id":R}                      {"type":"joined","room_id":R}
//   {"cmd":"send","room_id":R,"body":B}             {"type":"sent","room_id":R,"event_id":E}
//   {"cmd":"react","room_id":R,"event_id":E,"key":K} {"type":"sent","room_id":R,"event_id":E2}
//   {"cmd":"create_dm","user_id":U}                 {"type":"created","room_id":R}
//   {"cmd":"shield","room_id":R,"event_id":E}       {"type":"shield","event_id":E,"encrypted":…,
//                                                    "room_encrypted":…,"colour":…,"reason":…}
//   {"cmd":"stop"}                                  (stops the client, exits 0)
// Unsolicited events: ready, invite (of this user), member (others' membership), message,
// reaction; failures: {"type":"error",...}.
// A command may carry an "id"; the answer (or error) then carries the same "id".

import { format } from "node:util";
import { createInterface } from "node:readline";

// -- stdout is the protocol: route all console output to stderr -------------------------

// matrix-js-sdk logs through loglevel, which calls console.* at call time; every child
// logger it makes is at DEBUG level, so filtering happens here.
const toStderr = (...args) => process.stderr.write(format(...args) + "\n");
const verbose = Boolean(process.env.JSCLIENT_DEBUG);
for (const method of ["log", "info", "debug", "trace", "warn", "error"]) {
    console[method] = verbose || method === "warn" || method === "error" ? toStderr : () => {};
}

function emit(event) {
    process.stdout.write(JSON.stringify(event) + "\n");
}

// -- Node 20 polyfills (matrix-js-sdk 43 targets Node >= 22) ------------------------------

if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function withResolvers() {
        let resolve;
        let reject;
        const promise = new this((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}

// Imported only now, after the polyfill.
const sdk = await import("matrix-js-sdk");
const { ClientEvent, EventType, MatrixEventEvent, RoomEvent, RoomMemberEvent, SyncState } = sdk;

const baseUrl = requireEnv("HOMESERVER_URL");
const userId = requireEnv("USER_ID");
const password = requireEnv("PASSWORD");

function requireEnv(name) {
    const value = process.env[name];
    if (!value) {
        emit({ type: "error", message: `environment variable ${name} is not set` });
        process.exit(2);
    }
    return value;
}

function errorMessage(error) {
    if (error?.errcode) return `${error.errcode}: ${error.data?.error ?? error.message}`;
    return error?.message ?? String(error);
}

process.on("unhandledRejection", (error) => {
    emit({ type: "error", message: `unhandled rejection: ${errorMessage(error)}` });
});

// -- log in, start crypto and sync ---------------------------------------------------------

const login = await sdk.createClient({ baseUrl }).loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password,
    initial_device_display_name: "consultbot jsclient (matrix-js-sdk)",
});

const client = sdk.createClient({
    baseUrl,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
});
await client.initRustCrypto({ useIndexedDB: false });

// -- room events ---------------------------------------------------------------------------

const reported = new Set(); // event ids reported as decrypted or cleartext
const reportedFailures = new Set(); // event ids reported with decryption_failed

function onRoomEvent(event) {
    if (event.isBeingDecrypted()) return; // MatrixEventEvent.Decrypted brings it back here
    const roomId = event.getRoomId();
    const eventId = event.getId();
    if (!roomId || !eventId || eventId.startsWith("~")) return; // local echo
    if (event.isDecryptionFailure()) {
        if (reported.has(eventId) || reportedFailures.has(eventId)) return;
        reportedFailures.add(eventId);
        // The cleartext type is unknown; report it as a message the client could not read.
        emit({
            type: "message",
            room_id: roomId,
            event_id: eventId,
            sender: event.getSender(),
            msgtype: null,
            body: null,
            formatted_body: null,
            mentions: null,
            encrypted: true,
            decryption_failed: true,
            failure_reason: event.decryptionFailureReason ?? null,
        });
        return;
    }
    if (event.getWireType() === EventType.RoomMessageEncrypted && !event.getClearContent()) {
        return; // not decrypted yet; MatrixEventEvent.Decrypted brings it back here
    }
    if (reported.has(eventId)) return;
    const content = event.getContent();
    const common = {
        room_id: roomId,
        event_id: eventId,
        sender: event.getSender(),
        encrypted: event.isEncrypted(),
    };
    if (event.getType() === EventType.RoomMessage) {
        reported.add(eventId);
        emit({
            type: "message",
            ...common,
            msgtype: content.msgtype ?? null,
            body: content.body ?? null,
            format: content.format ?? null,
            formatted_body: content.formatted_body ?? null,
            mentions: content["m.mentions"] ?? null,
            relates_to: content["m.relates_to"] ?? null,
            decryption_failed: false,
        });
    } else if (event.getType() === EventType.Reaction) {
        reported.add(eventId);
        const relation = content["m.relates_to"] ?? {};
        emit({
            type: "reaction",
            ...common,
            key: relation.key ?? null,
            reacts_to: relation.event_id ?? null,
        });
    }
}

client.on(RoomEvent.Timeline, (event, room, toStartOfTimeline) => {
    if (toStartOfTimeline) return; // back-pagination, not news
    onRoomEvent(event);
});
client.on(MatrixEventEvent.Decrypted, (event) => onRoomEvent(event));

const reportedMemberships = new Set(); // member event ids
client.on(RoomMemberEvent.Membership, (event, member) => {
    const key = event.getId() ?? `${member.roomId} ${member.userId} ${member.membership}`;
    if (reportedMemberships.has(key)) return;
    reportedMemberships.add(key);
    if (member.userId === client.getUserId()) {
        if (member.membership !== "invite") return;
        emit({
            type: "invite",
            room_id: member.roomId,
            inviter: member.events.member?.getSender() ?? null,
        });
    } else {
        // Others' joins: a test sending into a room it created waits for the peer's join,
        // because the room key is shared with the members the client knows at send time.
        emit({
            type: "member",
            room_id: member.roomId,
            user_id: member.userId,
            membership: member.membership,
        });
    }
});

// -- waiting for sync --------------------------------------------------------------------

// Resolves once sync has shown us as joined to the room (and so its state, including
// m.room.encryption, has been handed to the crypto layer).
function joinedThroughSync(roomId) {
    return new Promise((resolve) => {
        const check = () => {
            if (client.getRoom(roomId)?.getMyMembership() === "join") {
                client.off(ClientEvent.Sync, check);
                client.off(RoomEvent.MyMembership, check);
                resolve();
                return true;
            }
            return false;
        };
        if (!check()) {
            client.on(ClientEvent.Sync, check);
            client.on(RoomEvent.MyMembership, check);
        }
    });
}

async function firstSync() {
    const { promise, resolve, reject } = Promise.withResolvers();
    const onSync = (state) => {
        if (state === SyncState.Prepared || state === SyncState.Syncing) {
            client.off(ClientEvent.Sync, onSync);
            resolve();
        } else if (state === SyncState.Error) {
            client.off(ClientEvent.Sync, onSync);
            reject(new Error("initial sync failed"));
        }
    };
    client.on(ClientEvent.Sync, onSync);
    return promise;
}

// Resolves once the homeserver lists this device with its keys (the Rust crypto uploads
// them in the background after initRustCrypto/startClient).
async function deviceKeysUploaded() {
    const deviceId = client.getDeviceId();
    for (let attempt = 0; ; attempt++) {
        const response = await client.http.authedRequest(
            "POST",
            "/keys/query",
            undefined,
            { device_keys: { [userId]: [] } },
        );
        if (response.device_keys?.[login.user_id]?.[deviceId]) return;
        if (attempt >= 300) throw new Error("device keys were not uploaded within 30 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

const synced = firstSync();
await client.startClient({ initialSyncLimit: 20, lazyLoadMembers: false });
await synced;
await deviceKeysUploaded();
emit({ type: "ready", user_id: client.getUserId(), device_id: client.getDeviceId() });

// -- commands -----------------------------------------------------------------------------

async function handle(command) {
    switch (command.cmd) {
        case "join": {
            const joined = joinedThroughSync(command.room_id);
            await client.joinRoom(command.room_id);
            await joined;
            return {
                type: "joined",
                room_id: command.room_id,
                encrypted: await client.getCrypto().isEncryptionEnabledInRoom(command.room_id),
            };
        }
        case "send": {
            const { event_id } = await client.sendEvent(command.room_id, EventType.RoomMessage, {
                msgtype: command.msgtype ?? "m.text",
                body: command.body,
            });
            return { type: "sent", room_id: command.room_id, event_id };
        }
        case "react": {
            const { event_id } = await client.sendEvent(command.room_id, EventType.Reaction, {
                "m.relates_to": {
                    rel_type: "m.annotation",
                    event_id: command.event_id,
                    key: command.key ?? "✅",
                },
            });
            return { type: "sent", room_id: command.room_id, event_id };
        }
        case "create_dm": {
            const { room_id } = await client.createRoom({
                preset: "trusted_private_chat",
                is_direct: true,
                invite: [command.user_id],
                initial_state: [
                    {
                        type: "m.room.encryption",
                        state_key: "",
                        content: { algorithm: "m.megolm.v1.aes-sha2" },
                    },
                ],
            });
            await joinedThroughSync(room_id);
            return { type: "created", room_id };
        }
        case "shield": {
            // What Element's padlock is drawn from: the Rust crypto's verdict on one event.
            const event = client.getRoom(command.room_id)?.findEventById(command.event_id);
            if (!event) throw new Error(`event ${command.event_id} is not in the timeline`);
            const info = event.isEncrypted()
                ? await client.getCrypto().getEncryptionInfoForEvent(event)
                : null;
            return {
                type: "shield",
                event_id: command.event_id,
                encrypted: event.isEncrypted(),
                room_encrypted: await client.getCrypto().isEncryptionEnabledInRoom(command.room_id),
                colour: info?.shieldColour ?? null,
                reason: info?.shieldReason ?? null,
            };
        }
        case "stop":
            client.stopClient();
            emit({ type: "stopped" });
            process.exit(0);
        // falls through (never reached)
        default:
            throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
    }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
    if (!line.trim()) return;
    let command;
    try {
        command = JSON.parse(line);
    } catch (error) {
        emit({ type: "error", message: `not JSON: ${errorMessage(error)}` });
        return;
    }
    // Commands run concurrently; the test orders them by waiting for each answer.
    handle(command).then(
        (answer) => emit(command.id === undefined ? answer : { ...answer, id: command.id }),
        (error) =>
            emit({ type: "error", cmd: command.cmd, id: command.id, message: errorMessage(error) }),
    );
});
lines.on("close", () => {
    // stdin closed without "stop": the test runner went away.
    client.stopClient();
    process.exit(0);
});
