// tests: a metric's value in a prometheus registry, summed over the series whose labels
// include `labels` (counters and gauges by value, histograms by sample count).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <prometheus/registry.h>

namespace bzzz::testing {

inline double metric(prometheus::Registry& reg, std::string_view family,
                     const std::map<std::string, std::string>& labels = {}) {
  double total = 0;
  for (const auto& f : reg.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (match) total += m.counter.value + m.gauge.value + static_cast<double>(m.histogram.sample_count);
    }
  }
  return total;
}

}  // namespace bzzz::testing
