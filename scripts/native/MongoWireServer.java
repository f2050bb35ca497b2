import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;

/**
 * The native stack's MongoDB-wire-compatible server: mongo-java-server with its H2 MVStore
 * backend, so data survives a restart. No mongod binary is in any registry these machines reach.
 *
 * Usage (run by scripts/native/stack.sh with Java's single-file source launcher):
 *   java -cp '.stack/lib/mongodb/*' scripts/native/MongoWireServer.java <data-file> <host> <port>
 *
 * It has no authentication: connect with mongodb://127.0.0.1:27017 (no user/password).
 */
public final class MongoWireServer {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MongoWireServer <data-file> <host> <port>");
            System.exit(2);
        }
        H2Backend backend = new H2Backend(args[0]);
        MongoServer server = new MongoServer(backend);
        server.bind(args[1], Integer.parseInt(args[2]));
        System.out.println("mongo-java-server (H2 backend at " + args[0] + ") listening on " + args[1] + ":" + args[2]);
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
}
