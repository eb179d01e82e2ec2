#include "keelan/metrics.h"

#include <cstdio>

namespace keelan {

namespace {
std::string number(double value) {
  char buffer[64];
  snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

std::string labelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string text = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) text += ",";
    text += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') text += '\\';
      if (c == '\n') {
        text += "\\n";
        continue;
      }
      text += c;
    }
    text += "\"";
  }
  return text + "}";
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
}  // namespace

void Histogram::observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) ++buckets_[i];
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  for (size_t i = 0; i < kBounds.size(); ++i)
    out += name + "_bucket{le=\"" + number(kBounds[i]) + "\"} " + std::to_string(buckets_[i]) + "\n";
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

void renderFamily(std::string& out, const std::string& name, const char* type, const std::string& help,
                  const std::vector<std::pair<Labels, double>>& samples) {
  header(out, name, type, help);
  for (const auto& [labels, value] : samples) out += name + labelText(labels) + " " + number(value) + "\n";
}

void renderValue(std::string& out, const std::string& name, const char* type, const std::string& help, double value) {
  renderFamily(out, name, type, help, {{{}, value}});
}

}  // namespace keelan
