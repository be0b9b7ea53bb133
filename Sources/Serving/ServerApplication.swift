import Dispatch
import Events
import Foundation
import Storage
import HTTPServer
import Telemetry

/// A running server: the HTTP API over a `RecommendationService`, the alias poller (a moved alias is
/// loaded in the background and hot-swapped in), the shared-log follower (with replicas, every 250 ms),
/// and a graceful stop. `rummage serve` and `rummage bench serve` both run servers through it.
///
/// `stop` drains: no new connections, in-flight requests finish, timers are cancelled, impressions are
/// flushed to the log.
public final class ServerApplication {
    /// What a server is started with, besides the service.
    public struct Options: Sendable {
        public var http = HTTPServer.Configuration()
        /// The API keys accepted (docs/security.md); `.open` (none) is allowed on loopback only.
        public var access = AccessPolicy.open
        /// Where state changes are recorded; nil: the server's log.
        public var audit: AuditLog?
        /// Check the served aliases this often (seconds) and hot-swap those that moved; 0 never.
        public var pollSeconds = 0
        /// Called before each check: brings a mirrored registry up to date (a shared registry in S3).
        public var refreshRegistry: (@Sendable () throws -> Void)?
        /// Follow the shared log every 250 ms (replicas with shared states).
        public var followsLog = false
        /// With a publisher, `POST /v1/events` publishes to RabbitMQ instead of ingesting (202).
        public var publisher: EventPublisher?
        /// How far (seconds) an event's timestamp may be ahead of the server's clock.
        public var maxClockSkew = Event.defaultMaxFutureSkew
        /// Each request's `Deadline` (milliseconds): the store calls it makes give up when it passes.
        public var requestDeadlineMilliseconds = ServingRoutes.defaultRequestDeadlineMilliseconds

        public init() {}
    }

    public let service: RecommendationService
    private let server: HTTPServer
    private let logger: JSONLogger
    // Always resumed (a suspended source must not be released); a timer that must not fire is scheduled
    // at the distant future.
    private let poller: any DispatchSourceTimer
    private let follower: any DispatchSourceTimer

    /// Starts serving on `options.http.host` and `.port` (0 picks a free one). A server without API keys
    /// is refused on any but a loopback address.
    public init(service: RecommendationService, options: Options, logger: JSONLogger = JSONLogger()) throws {
        guard !options.access.isOpen || HTTPServer.Configuration.isLoopback(options.http.host) else {
            throw AccessError("refusing to listen on \(options.http.host) without API keys: anyone who reaches it could change the marketplace "
                              + "(give --api-keys FILE or $RUMMAGE_API_KEYS, or listen on loopback; docs/security.md)")
        }
        self.service = service
        self.logger = logger
        let router = Router()
        ServingRoutes.install(service, on: router, access: options.access, logger: logger, audit: options.audit ?? AuditLog(logger: logger),
                              publisher: options.publisher, maxClockSkew: options.maxClockSkew,
                              requestDeadlineMilliseconds: options.requestDeadlineMilliseconds)
        server = HTTPServer(router: router, configuration: options.http)
        try server.start()
        let poll = options.pollSeconds
        poller = DispatchSource.makeTimerSource(queue: .global())
        poller.schedule(deadline: poll > 0 ? .now() + .seconds(poll) : .distantFuture, repeating: poll > 0 ? .seconds(poll) : .never)
        let refresh = options.refreshRegistry
        poller.setEventHandler {
            do { try refresh?() } catch { logger.error("refreshing the registry failed; serving what is loaded", ["error": "\(error)"]) }
            Self.followAliases(service, logger: logger)
        }
        poller.resume()
        follower = DispatchSource.makeTimerSource(queue: .global())
        follower.schedule(deadline: .now(), repeating: options.followsLog ? .milliseconds(250) : .never)
        follower.setEventHandler {
            do { try Deadline.within(milliseconds: 2_000) { try service.followLog() } } catch {
                logger.error("following the log failed", ["error": "\(error)"])
            }
        }
        follower.resume()
    }

    /// The port it listens on.
    public var port: UInt16 { server.port }

    /// Loads each served alias that moved in the registry and swaps it in; a refused version is logged
    /// and the current one keeps serving.
    static func followAliases(_ service: RecommendationService, logger: JSONLogger) {
        for moved in service.refreshRankers() {
            if let error = moved.error {
                logger.error("ranker swap refused", ["surface": moved.surface, "serving": moved.from, "error": error])
            } else {
                logger.info("ranker swap", ["surface": moved.surface, "from": moved.from, "to": moved.to])
            }
        }
        for (alias, version) in service.servedVersions {
            guard let target = try? service.registry.resolve(service.modelName, alias), target != version else { continue }
            do {
                let (_, from, to) = try service.reload(to: alias)
                logger.info("hot swap", ["alias": alias, "from": from, "to": to])
            } catch {
                logger.error("hot swap refused", ["alias": alias, "target": target, "serving": version, "error": "\(error)"])
            }
        }
    }

    /// Blocks in `wait` (e.g. until SIGTERM or SIGINT), then stops gracefully.
    public func run(until wait: () -> Void) {
        wait()
        logger.info("stopping: draining in-flight requests")
        stop()
        logger.info("stopped")
    }

    /// Stops the timers and the server (in-flight requests finish) and flushes impressions.
    public func stop() {
        poller.cancel()
        follower.cancel()
        server.stop()
        service.flushImpressions()
    }
}
