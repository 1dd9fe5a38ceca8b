import Foundation
import Testing
import TresorTestSupport

/// docs/openapi.json against the server: the same routes, and each documented operation answered by the
/// running server (401 without a token, not `request.unknown_route`).
struct OpenAPITests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.json")

    /// "GET /v1/vms/*": parameters and catch-alls written alike.
    static func normalized(_ method: String, _ path: String) -> String {
        let parts = path.split(separator: "/").map { $0.hasPrefix("{") || $0 == "**" ? "*" : String($0) }
        return method.uppercased() + " /" + parts.joined(separator: "/")
    }

    func documented() throws -> [(method: String, path: String)] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.document)) as! [String: Any]
        let paths = json["paths"] as! [String: [String: Any]]
        return paths.flatMap { path, operations in operations.keys.map { (method: $0, path: path) } }
    }

    @Test func theDocumentNamesExactlyTheRoutesTheServerServes() throws {
        let dir = TemporaryDirectory()
        #expect(try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path).status == 0)
        let listed = try Programs.run("tresor-vault", ["serve", "vault", "--list-routes"], directory: dir.path)
        #expect(listed.status == 0, "\(listed.stderr)")
        let served = Set(listed.stdout.split(separator: "\n").map { line -> String in
            let parts = line.split(separator: " ", maxSplits: 1)
            return Self.normalized(String(parts[0]), String(parts[1]))
        })
        let documented = Set(try self.documented().map { Self.normalized($0.method, $0.path) })
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        #expect(served.count >= 20)
    }

    @Test func everyDocumentedOperationIsAnsweredByTheRunningServer() throws {
        let dir = TemporaryDirectory()
        #expect(try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path).status == 0)
        let server = try ServedVault(directory: dir.file("vault"))
        for (method, path) in try self.documented() {
            let concrete = path.replacingOccurrences(of: "{path}", with: "manifests/x.manifest")
                .replacingOccurrences(of: "{folder}", with: "manifests")
                .replacingOccurrences(of: "{", with: "x").replacingOccurrences(of: "}", with: "")
            let reply = try RawHTTP.call(method.uppercased(), server.url + concrete, token: nil, directory: dir.path)
            let expected = path.hasPrefix("/v1/") ? 401 : 200
            #expect(reply.status == expected, "\(method) \(path): \(reply.status) \(reply.body)")
        }
        server.stop()
    }
}
