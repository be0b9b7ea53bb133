/// Small SVG charts for self-contained HTML reports: a line chart (one or more series over x), grouped
/// bars (categories × series) and a histogram. Axes with rounded ticks, a legend, and text escaped; no
/// scripts and no external resources.
public struct SVGChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]

        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public var title: String
    public var width = 640.0
    public var height = 300.0
    public var xLabel = ""
    public var yLabel = ""

    public init(title: String, xLabel: String = "", yLabel: String = "") {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    static let palette = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6"]
    private let left = 64.0, right = 16.0, top = 32.0
    private var bottom = 48.0

    // MARK: Charts

    /// Lines through each series' points (x ascending).
    public func lines(_ series: [Series]) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else { return empty() }
        let xAxis = Self.ticks(x0, x1), yAxis = Self.ticks(min(y0, y1 - abs(y1) * 0.05), y1)
        var body = axes(x: xAxis, y: yAxis)
        for (s, one) in series.enumerated() {
            let path = one.points.map { "\(fmt(px($0.x, xAxis))),\(fmt(py($0.y, yAxis)))" }.joined(separator: " ")
            body += "<polyline fill=\"none\" stroke=\"\(Self.color(s))\" stroke-width=\"2\" points=\"\(path)\"/>"
            for p in one.points {
                body += "<circle cx=\"\(fmt(px(p.x, xAxis)))\" cy=\"\(fmt(py(p.y, yAxis)))\" r=\"3\" fill=\"\(Self.color(s))\">"
                    + "<title>\(Self.escape(one.name)): \(fmt(p.y, digits: 4)) at \(fmt(p.x, digits: 4))</title></circle>"
            }
        }
        return frame(body + legend(series.map(\.name)))
    }

    /// Bars per category, one per series side by side; values ≥ 0.
    public func bars(categories: [String], series: [(name: String, values: [Double])]) -> String {
        // Many categories: labels turned 45° below a taller chart.
        let slanted = categories.count > 6
        if slanted && bottom == 48 {
            var chart = self
            chart.bottom = 48 + 6 * Double(categories.map(\.count).max() ?? 0)
            chart.height += chart.bottom - 48
            return chart.bars(categories: categories, series: series)
        }
        let top = series.flatMap(\.values).max() ?? 0
        guard !categories.isEmpty, top > 0 else { return empty() }
        let yAxis = Self.ticks(0, top)
        var body = axes(x: nil, y: yAxis)
        let plotWidth = width - left - right
        let groupWidth = plotWidth / Double(categories.count), barWidth = groupWidth * 0.8 / Double(max(1, series.count))
        for (c, category) in categories.enumerated() {
            let groupX = left + Double(c) * groupWidth + groupWidth * 0.1
            for (s, one) in series.enumerated() where c < one.values.count {
                let value = one.values[c], y = py(value, yAxis)
                body += "<rect x=\"\(fmt(groupX + Double(s) * barWidth))\" y=\"\(fmt(y))\" width=\"\(fmt(barWidth * 0.92))\" "
                    + "height=\"\(fmt(height - bottom - y))\" fill=\"\(Self.color(s))\"><title>\(Self.escape(one.name)) "
                    + "\(Self.escape(category)): \(fmt(value, digits: 4))</title></rect>"
            }
            let labelX = groupX + groupWidth * 0.4, labelY = height - bottom + 14
            body += "<text x=\"\(fmt(labelX))\" y=\"\(fmt(labelY))\" font-size=\"10\" "
                + (slanted ? "text-anchor=\"end\" transform=\"rotate(-45 \(fmt(labelX)) \(fmt(labelY)))\">" : "text-anchor=\"middle\">")
                + "\(Self.escape(category))</text>"
        }
        return frame(body + legend(series.map(\.name)))
    }

    /// A histogram of `values` in `binCount` equal bins.
    public func histogram(_ values: [Double], binCount: Int = 20) -> String {
        guard let low = values.min(), let high = values.max(), binCount > 0 else { return empty() }
        let span = high > low ? high - low : 1
        var counts = [Double](repeating: 0, count: binCount)
        for v in values { counts[min(binCount - 1, Int((v - low) / span * Double(binCount)))] += 1 }
        let xAxis = Self.ticks(low, low + span), yAxis = Self.ticks(0, counts.max() ?? 1)
        var body = axes(x: xAxis, y: yAxis)
        for (b, n) in counts.enumerated() where n > 0 {
            let x0 = px(low + span * Double(b) / Double(binCount), xAxis), x1 = px(low + span * Double(b + 1) / Double(binCount), xAxis)
            let y = py(n, yAxis)
            body += "<rect x=\"\(fmt(x0))\" y=\"\(fmt(y))\" width=\"\(fmt(max(1, x1 - x0 - 1)))\" height=\"\(fmt(height - bottom - y))\" "
                + "fill=\"\(Self.color(0))\"><title>\(Int(n)) in [\(fmt(low + span * Double(b) / Double(binCount), digits: 4)), "
                + "\(fmt(low + span * Double(b + 1) / Double(binCount), digits: 4)))</title></rect>"
        }
        return frame(body)
    }

    // MARK: Parts

    private func frame(_ body: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" "
            + "viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" font-family=\"sans-serif\" role=\"img\">"
            + "<title>\(Self.escape(title))</title>"
            + "<text x=\"\(fmt(left))\" y=\"18\" font-size=\"14\" font-weight=\"bold\">\(Self.escape(title))</text>"
            + body
            + "<text x=\"\(fmt(left + (width - left - right) / 2))\" y=\"\(fmt(height - 8))\" font-size=\"11\" "
            + "text-anchor=\"middle\">\(Self.escape(xLabel))</text>"
            + "<text x=\"14\" y=\"\(fmt(top + (height - top - bottom) / 2))\" font-size=\"11\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 14 \(fmt(top + (height - top - bottom) / 2)))\">\(Self.escape(yLabel))</text></svg>"
    }

    private func empty() -> String { frame("<text x=\"\(fmt(width / 2))\" y=\"\(fmt(height / 2))\" text-anchor=\"middle\">no data</text>") }

    private func axes(x: [Double]?, y: [Double]) -> String {
        var out = "<line x1=\"\(fmt(left))\" y1=\"\(fmt(height - bottom))\" x2=\"\(fmt(width - right))\" y2=\"\(fmt(height - bottom))\" stroke=\"#333\"/>"
            + "<line x1=\"\(fmt(left))\" y1=\"\(fmt(top))\" x2=\"\(fmt(left))\" y2=\"\(fmt(height - bottom))\" stroke=\"#333\"/>"
        for t in y {
            let yy = py(t, y)
            out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(yy))\" x2=\"\(fmt(width - right))\" y2=\"\(fmt(yy))\" stroke=\"#ddd\"/>"
                + "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(yy + 4))\" font-size=\"10\" text-anchor=\"end\">\(fmt(t, digits: 4))</text>"
        }
        for t in x ?? [] {
            let xx = px(t, x!)
            out += "<line x1=\"\(fmt(xx))\" y1=\"\(fmt(height - bottom))\" x2=\"\(fmt(xx))\" y2=\"\(fmt(height - bottom + 4))\" stroke=\"#333\"/>"
                + "<text x=\"\(fmt(xx))\" y=\"\(fmt(height - bottom + 16))\" font-size=\"10\" text-anchor=\"middle\">\(fmt(t, digits: 4))</text>"
        }
        return out
    }

    private func legend(_ names: [String]) -> String {
        guard names.count > 1 else { return "" }
        return names.enumerated().map { i, name in
            let x = width - right - 150, y = top + 4 + Double(i) * 16
            return "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"10\" height=\"10\" fill=\"\(Self.color(i))\"/>"
                + "<text x=\"\(fmt(x + 14))\" y=\"\(fmt(y + 9))\" font-size=\"11\">\(Self.escape(name))</text>"
        }.joined()
    }

    private func px(_ x: Double, _ axis: [Double]) -> Double {
        let (a, b) = (axis.first!, axis.last!)
        return left + (b > a ? (x - a) / (b - a) : 0.5) * (width - left - right)
    }

    private func py(_ y: Double, _ axis: [Double]) -> Double {
        let (a, b) = (axis.first!, axis.last!)
        return height - bottom - (b > a ? (y - a) / (b - a) : 0.5) * (height - top - bottom)
    }

    static func color(_ i: Int) -> String { palette[i % palette.count] }

    /// About five ticks at 1, 2 or 5 × 10ⁿ covering [low, high].
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        guard high > low else { return [low - 1, low, low + 1] }
        let raw = (high - low) / 5
        let magnitude = pow10(Int((log10(raw)).rounded(.down)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = (low / step).rounded(.down) * step, last = (high / step).rounded(.up) * step
        return stride(from: first, through: last + step / 2, by: step).map { $0 }
    }

    private static func pow10(_ n: Int) -> Double { n >= 0 ? (0..<n).reduce(1.0) { r, _ in r * 10 } : (0..<(-n)).reduce(1.0) { r, _ in r / 10 } }

    private static func log10(_ x: Double) -> Double {
        var n = 0.0, v = x
        while v >= 10 { v /= 10; n += 1 }
        while v < 1 { v *= 10; n -= 1 }
        return n
    }

    /// Text safe inside SVG/HTML elements and attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    private func fmt(_ x: Double, digits: Int = 1) -> String { Self.number(x, digits: digits) }

    /// A short decimal: up to `digits` significant fraction digits, no trailing zeros.
    public static func number(_ x: Double, digits: Int) -> String {
        guard x.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (x * scale).rounded() / scale
        if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int64(rounded)) }
        var text = String(rounded)
        if text.contains("e") { return text }
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
