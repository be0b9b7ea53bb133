import RummageClient

/// One request over a fresh `RummageClient` connection, for tests that check raw statuses and bodies.
public enum HTTPClient {
    public static func send(_ method: String, _ path: String, port: UInt16, body: [UInt8] = [], headers: [String: String] = [:])
        -> (status: Int, body: String) {
        do {
            let answer = try RummageClient(port: port).request(method, path, body: body, headers: headers)
            return (answer.status, answer.text)
        } catch {
            return (-1, "\(error)")
        }
    }
}
