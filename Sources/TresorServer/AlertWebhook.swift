import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TresorCore

/// Posts an alert to the operator's webhook when a backup job fails or a scheduled slot is missed
/// (docs/jobs.md, "Alerts"). Delivery runs in its own task, so a slow or dead receiver never holds up
/// the job queue; each alert is tried three times with backoff, then logged as lost. The URL may carry a
/// secret (many receivers put their key in it), so it is read from a file or the environment and never logged.
final class AlertWebhook: Sendable {
    struct Alert: Codable, Sendable {
        /// `backup.failed`, or `backup.missed` for a slot that did not run.
        var event: String
        var vaultID: String
        var atMillis: Int64
        var job: JobRecord
    }

    private let url: String
    private let vaultID: String
    private let logger: Logger

    init(url: String, vaultID: String, logger: Logger) {
        self.url = url
        self.vaultID = vaultID
        self.logger = logger
    }

    /// The webhook named by `TRESOR_ALERT_WEBHOOK` or the file given; nil when neither is set.
    static func configured(file: String?, vaultID: String, logger: Logger) throws -> AlertWebhook? {
        var url = ProcessInfo.processInfo.environment["TRESOR_ALERT_WEBHOOK"]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw TresorError(.invalidArgument, "cannot read the alert webhook file \(file)")
            }
            url = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let url, !url.isEmpty else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw TresorError(.invalidArgument, "the alert webhook is not an http(s) URL", action: "put one URL in the file")
        }
        return AlertWebhook(url: url, vaultID: vaultID, logger: logger)
    }

    func jobFailed(_ job: JobRecord) {
        let alert = Alert(event: job.errorCode == TresorError.Code.scheduleMissed.rawValue ? "backup.missed" : "backup.failed",
                          vaultID: self.vaultID, atMillis: VaultClock.nowMillis, job: job)
        Task { await self.deliver(alert) }
    }

    private func deliver(_ alert: Alert) async {
        guard let body = try? JSON.encode(alert) else { return }
        for attempt in 1...3 {
            do {
                var request = HTTPClientRequest(url: self.url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                if (200..<300).contains(Int(response.status.code)) { return }
                self.logger.warning("alert webhook refused an alert", metadata: ["status": "\(response.status.code)", "attempt": "\(attempt)"])
            } catch {
                self.logger.warning("alert webhook unreachable", metadata: ["attempt": "\(attempt)"])
            }
            try? await Task.sleep(for: .seconds(attempt * 2))
        }
        self.logger.error("alert lost after 3 attempts", metadata: ["job": "\(alert.job.id)", "event": "\(alert.event)"])
    }
}
