import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.text.Normalizer;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.BinData;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import io.netty.channel.Channel;

/**
 * The native stack's MongoDB-wire-compatible server: mongo-java-server with its H2 MVStore
 * backend, so data survives a restart. No mongod binary is in any registry these machines reach.
 *
 * Usage (run by scripts/native/stack.sh with Java's single-file source launcher):
 *   java -cp '.stack/lib/mongodb/*' scripts/native/MongoWireServer.java <data-file> <host> <port>
 *
 * What it adds to mongo-java-server 1.47 (a backend subclass; nothing else is changed):
 * - It reports MongoDB 6.0.0, wire version 17 (mongo-java-server says 5.0 / wire 8, which mongosh
 *   2.x refuses: "requires at least 9"), and answers `hello` as well as the legacy `isMaster`.
 *   The wire commands the warehouse uses exist in real MongoDB 6 and 7 alike.
 * - A query that names `_id` by equality (or `$in`) next to other conditions is answered through
 *   the `_id` index, then matched in full, as MongoDB's planner does. mongo-java-server uses an
 *   index only when the query's fields are exactly the index's, so a guarded write such as
 *   `{_id: 42, '_cdc.version': v}` scanned the whole collection (82 upserts/s at 20k documents).
 * - SCRAM-SHA-256 login (`saslStart` / `saslContinue`, RFC 5802/7677, as MongoDB does it) for one
 *   root user, so `mongosh -u admin -p admin123` works as against the Docker stack's MongoDB 7.
 *   Login is OPTIONAL by default (the native URL, mongodb://127.0.0.1:27017, has no credentials);
 *   MONGO_REQUIRE_AUTH=true refuses every other command on a connection that has not logged in.
 *
 * Environment: MONGO_ROOT_USERNAME (default admin), MONGO_ROOT_PASSWORD (default admin123),
 * MONGO_REQUIRE_AUTH (default false).
 */
public final class MongoWireServer {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MongoWireServer <data-file> <host> <port>");
            System.exit(2);
        }
        String user = envOr("MONGO_ROOT_USERNAME", "admin");
        String password = envOr("MONGO_ROOT_PASSWORD", "admin123");
        boolean requireAuth = Boolean.parseBoolean(envOr("MONGO_REQUIRE_AUTH", "false"));
        WarehouseBackend backend = new WarehouseBackend(args[0], new ScramSha256User(user, password), requireAuth);
        backend.version(Mongo60.INSTANCE);
        MongoServer server = new MongoServer(backend);
        server.bind(args[1], Integer.parseInt(args[2]));
        System.out.println("mongo-java-server (H2 backend at " + args[0] + ", reporting MongoDB 6.0.0 / wire 17, SCRAM-SHA-256 user '"
            + user + "', login " + (requireAuth ? "required" : "optional") + ") listening on " + args[1] + ":" + args[2]);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // Flush the MVStore before the JVM exits, so a clean stop never loses acknowledged writes.
            server.shutdown();
            try {
                backend.close();
            } catch (RuntimeException alreadyClosed) {
                // shutdown() may have closed the backend already.
            }
        }));
        Thread.currentThread().join();
    }

    private static String envOr(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value.trim();
    }

    /** MongoDB 6.0.0, wire version 17: what mongosh 2.x and the Node driver 6.x need at least. */
    enum Mongo60 implements MongoVersion {
        INSTANCE;

        @Override
        public List<Integer> getVersionArray() {
            return List.of(6, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 17;
        }
    }

    /**
     * H2Backend plus `hello` and SCRAM-SHA-256 login. Per connection (netty channel) it keeps the
     * conversation in progress and whether the connection has logged in; both are dropped when
     * the connection closes.
     */
    static final class WarehouseBackend extends H2Backend {
        /** Commands a connection may run before logging in when login is required (as MongoDB allows). */
        private static final Set<String> OPEN_COMMANDS = Set.of("hello", "ismaster", "saslstart", "saslcontinue", "ping", "buildinfo", "endsessions", "whatsmyuri");

        private final ScramSha256User user;
        private final boolean requireAuth;
        private final Map<Channel, ScramConversation> conversations = new ConcurrentHashMap<>();
        private final Set<Channel> authenticated = ConcurrentHashMap.newKeySet();

        WarehouseBackend(String fileName, ScramSha256User user, boolean requireAuth) {
            super(openStore(fileName));
            this.user = user;
            this.requireAuth = requireAuth;
        }

        /** The server's one MVStore, kept where IdFirstDatabase can reach it while super constructors run. */
        static MVStore store;

        private static MVStore openStore(String fileName) {
            store = MVStore.open(fileName);
            return store;
        }

        @Override
        protected MongoDatabase openOrCreateDatabase(String databaseName) {
            // Called from H2Backend's constructor too (for the databases already on disk): use no field of ours here.
            return new IdFirstDatabase(databaseName, getMvStore(), getCursorRegistry());
        }

        @Override
        public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
            String name = command.toLowerCase();
            switch (name) {
                case "hello":
                case "ismaster":
                    return hello(query, name.equals("hello"));
                case "saslstart":
                    return saslStart(channel, query);
                case "saslcontinue":
                    return saslContinue(channel, query);
                case "connectionstatus": {
                    boolean in = authenticated.contains(channel);
                    Document authInfo = new Document("authenticatedUsers", in ? List.of(new Document("user", user.name).append("db", "admin")) : List.of())
                        .append("authenticatedUserRoles", in ? List.of(new Document("role", "root").append("db", "admin")) : List.of());
                    return ok(new Document("authInfo", authInfo));
                }
                case "logout":
                    authenticated.remove(channel);
                    return ok(new Document());
                default:
                    if (requireAuth && !authenticated.contains(channel) && !OPEN_COMMANDS.contains(name)) {
                        throw new MongoServerError(13, "Unauthorized", "command " + command + " requires authentication");
                    }
                    return super.handleCommand(channel, databaseName, command, query);
            }
        }

        @Override
        public void handleClose(Channel channel) {
            conversations.remove(channel);
            authenticated.remove(channel);
            super.handleClose(channel);
        }

        private Document hello(Document query, boolean isHello) {
            // The fields MongoDB 6 sends to a standalone server's clients.
            Document response = new Document();
            if (isHello) response.put("isWritablePrimary", Boolean.TRUE);
            else response.put("ismaster", Boolean.TRUE);
            response.put("helloOk", Boolean.TRUE);
            response.put("maxBsonObjectSize", 16 * 1024 * 1024);
            response.put("maxMessageSizeBytes", 48_000_000);
            response.put("maxWriteBatchSize", 100_000);
            response.put("localTime", java.time.Instant.now());
            response.put("minWireVersion", 0);
            response.put("maxWireVersion", Mongo60.INSTANCE.getWireVersion());
            response.put("readOnly", Boolean.FALSE);
            Object mechsFor = query.get("saslSupportedMechs");
            if (mechsFor instanceof String && mechsFor.toString().endsWith("." + user.name)) {
                response.put("saslSupportedMechs", List.of("SCRAM-SHA-256"));
            }
            return ok(response);
        }

        private Document saslStart(Channel channel, Document query) {
            Object mechanism = query.get("mechanism");
            if (!"SCRAM-SHA-256".equals(mechanism)) {
                throw new MongoServerError(2, "BadValue", "Unsupported mechanism " + mechanism + ": this server offers SCRAM-SHA-256 only");
            }
            ScramConversation conversation = new ScramConversation(user);
            String serverFirst = conversation.start(payloadText(query));
            conversations.put(channel, conversation);
            return ok(new Document("conversationId", 1).append("done", Boolean.FALSE).append("payload", binData(serverFirst)));
        }

        private Document saslContinue(Channel channel, Document query) {
            ScramConversation conversation = conversations.get(channel);
            if (conversation == null) {
                throw new MongoServerError(17, "ProtocolError", "No SASL session state found");
            }
            if (conversation.finished) {
                // The empty last exchange of clients that do not ask for skipEmptyExchange.
                conversations.remove(channel);
                return ok(new Document("conversationId", 1).append("done", Boolean.TRUE).append("payload", binData("")));
            }
            String serverFinal = conversation.finish(payloadText(query));
            if (serverFinal == null) {
                conversations.remove(channel);
                authenticated.remove(channel);
                throw new MongoServerError(18, "AuthenticationFailed", "Authentication failed.");
            }
            authenticated.add(channel);
            // MongoDB 4.4+ ends the conversation here (the driver asks for skipEmptyExchange).
            return ok(new Document("conversationId", 1).append("done", Boolean.TRUE).append("payload", binData(serverFinal)));
        }

        private static String payloadText(Document query) {
            Object payload = query.get("payload");
            if (payload instanceof BinData) return new String(((BinData) payload).getData(), StandardCharsets.UTF_8);
            if (payload instanceof byte[]) return new String((byte[]) payload, StandardCharsets.UTF_8);
            if (payload instanceof String) return (String) payload;
            throw new MongoServerError(17, "ProtocolError", "SASL payload missing");
        }

        private static BinData binData(String text) {
            return new BinData(text.getBytes(StandardCharsets.UTF_8));
        }

        private static Document ok(Document response) {
            Utils.markOkay(response);
            return response;
        }
    }

    /** H2Database whose collections answer `_id` queries through the `_id` index (see IdFirstCollection). */
    static final class IdFirstDatabase extends H2Database {
        IdFirstDatabase(String databaseName, MVStore mvStore, CursorRegistry cursorRegistry) {
            super(databaseName, mvStore, cursorRegistry);
        }

        @Override
        protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
            // The same maps H2Database opens (names from mongo-java-server 1.47), in our collection class.
            MVStore mvStore = WarehouseBackend.store;
            String fullCollectionName = getFullCollectionNamespace(collectionName);
            MVMap<Object, de.bwaldvogel.mongo.bson.Document> dataMap = mvStore.openMap("databases." + fullCollectionName);
            MVMap<String, Object> metaMap = mvStore.openMap("meta." + fullCollectionName);
            return new IdFirstCollection(this, collectionName, options, dataMap, metaMap, cursorRegistry);
        }
    }

    static final class IdFirstCollection extends H2Collection {
        IdFirstCollection(MongoDatabase database, String collectionName, CollectionOptions options,
                          MVMap<Object, de.bwaldvogel.mongo.bson.Document> dataMap, MVMap<String, Object> metaMap, CursorRegistry cursorRegistry) {
            super(database, collectionName, options, dataMap, metaMap, cursorRegistry);
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit, int batchSize, Document fieldSelector) {
            Object id = query.get("_id");
            if (query.size() > 1 && id != null && isEqualityOrIn(id)) {
                for (Index<Object> index : getIndexes()) {
                    if (index.getKeys().size() == 1 && index.getKeys().get(0).getKey().equals("_id")) {
                        Iterable<Object> positions = index.getPositions(new Document("_id", id));
                        return matchDocuments(query, positions, orderBy, numberToSkip, limit, batchSize, fieldSelector);
                    }
                }
            }
            return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
        }

        /** A plain value, a sub-document without operators (a composite key), or `{$in: [...]}`. */
        private static boolean isEqualityOrIn(Object value) {
            if (!(value instanceof Document)) return true;
            Set<String> keys = ((Document) value).keySet();
            if (keys.equals(Set.of("$in"))) return true;
            return keys.stream().noneMatch(key -> key.startsWith("$"));
        }
    }

    /** The root user's SCRAM-SHA-256 credentials, derived once at start-up (15,000 iterations, as MongoDB). */
    static final class ScramSha256User {
        static final int ITERATIONS = 15_000;
        final String name;
        final byte[] salt = new byte[28];
        final byte[] storedKey;
        final byte[] serverKey;

        ScramSha256User(String name, String password) throws GeneralSecurityException {
            this.name = name;
            new SecureRandom().nextBytes(salt);
            // SASLprep of an ordinary password is its NFKC normal form (RFC 4013).
            String prepared = Normalizer.normalize(password, Normalizer.Form.NFKC);
            SecretKeyFactory factory = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256");
            byte[] saltedPassword = factory.generateSecret(new PBEKeySpec(prepared.toCharArray(), salt, ITERATIONS, 256)).getEncoded();
            byte[] clientKey = hmac(saltedPassword, "Client Key");
            this.storedKey = MessageDigest.getInstance("SHA-256").digest(clientKey);
            this.serverKey = hmac(saltedPassword, "Server Key");
        }
    }

    /** One SCRAM exchange: client-first -> server-first, client-final -> server-final (or failure). */
    static final class ScramConversation {
        private final ScramSha256User user;
        private String clientFirstBare;
        private String serverFirst;
        private String nonce;
        boolean finished;

        ScramConversation(ScramSha256User user) {
            this.user = user;
        }

        String start(String clientFirst) {
            // "n,,n=<user>,r=<client nonce>": gs2 header without channel binding.
            if (!clientFirst.startsWith("n,")) throw new MongoServerError(17, "ProtocolError", "SCRAM: channel binding is not supported");
            clientFirstBare = clientFirst.substring(clientFirst.indexOf(',', 2) + 1);
            Map<String, String> attributes = attributes(clientFirstBare);
            String userName = attributes.getOrDefault("n", "").replace("=2C", ",").replace("=3D", "=");
            String clientNonce = attributes.get("r");
            if (clientNonce == null) throw new MongoServerError(17, "ProtocolError", "SCRAM: client nonce missing");
            if (!userName.equals(user.name)) {
                throw new MongoServerError(18, "AuthenticationFailed", "Authentication failed.");
            }
            byte[] random = new byte[24];
            new SecureRandom().nextBytes(random);
            nonce = clientNonce + Base64.getEncoder().encodeToString(random);
            serverFirst = "r=" + nonce + ",s=" + Base64.getEncoder().encodeToString(user.salt) + ",i=" + ScramSha256User.ITERATIONS;
            return serverFirst;
        }

        /** The server-final message ("v=<signature>"), or null when the proof is wrong. */
        String finish(String clientFinal) {
            int proofAt = clientFinal.lastIndexOf(",p=");
            if (proofAt < 0) throw new MongoServerError(17, "ProtocolError", "SCRAM: proof missing");
            String withoutProof = clientFinal.substring(0, proofAt);
            Map<String, String> attributes = attributes(clientFinal);
            if (!nonce.equals(attributes.get("r"))) return null;
            try {
                String authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof;
                byte[] clientSignature = hmac(user.storedKey, authMessage);
                byte[] proof = Base64.getDecoder().decode(attributes.get("p"));
                if (proof.length != clientSignature.length) return null;
                byte[] clientKey = new byte[proof.length];
                for (int i = 0; i < proof.length; i++) clientKey[i] = (byte) (proof[i] ^ clientSignature[i]);
                byte[] derivedStoredKey = MessageDigest.getInstance("SHA-256").digest(clientKey);
                if (!MessageDigest.isEqual(derivedStoredKey, user.storedKey)) return null;
                finished = true;
                return "v=" + Base64.getEncoder().encodeToString(hmac(user.serverKey, authMessage));
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                return null;
            }
        }

        private static Map<String, String> attributes(String message) {
            Map<String, String> result = new HashMap<>();
            for (String part : message.split(",")) {
                int eq = part.indexOf('=');
                if (eq == 1) result.put(part.substring(0, 1), part.substring(2));
            }
            return result;
        }
    }

    static byte[] hmac(byte[] key, String message) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(message.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
