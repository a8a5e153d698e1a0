// Times lwtnn's own C++ on lwtnn JSON files: the per-event cost of
// LightweightGraph::compute (one call per output, as a user gets every output) and of
// LightweightNeuralNetwork::compute (sequential files). Used by
// bench_lwtnn_calibration.py; it links an lwtnn you built (see benchmarks/README.md).
//
//   lwtnn_timing [--rounds N] [--round-ms MS] [--steps T] [--values] FILE.json...
//
// Every file is timed in every round, in turn, so load on a shared machine falls on all
// of them alike; each round times a batch of events sized (in a warm-up) to take about
// MS milliseconds. Printed per file, tab-separated: the path, the best and the median
// nanoseconds per event over the rounds, and the number of compute calls per event.
// --values prints instead each label's value for each of the 16 events (the same
// events for every file: files of one network compare value by value) at 17 digits.
#include "lwtnn/LightweightGraph.hh"
#include "lwtnn/LightweightNeuralNetwork.hh"
#include "lwtnn/parse_json.hh"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::size_t POOL = 16;  // distinct events, cycled

struct Timed {
  std::string path;
  std::unique_ptr<lwt::LightweightGraph> graph;
  std::unique_ptr<lwt::LightweightNeuralNetwork> sequential;
  std::vector<std::string> outputs;            // graph: one compute call each
  std::vector<lwt::LightweightGraph::NodeMap> nodes;             // graph events
  std::vector<lwt::LightweightGraph::SeqNodeMap> sequences;
  std::vector<lwt::ValueMap> values;           // sequential events
  std::size_t batch = 1;
  std::vector<double> ns_per_event;
};

std::vector<lwt::Input> variables(const std::vector<lwt::InputNodeConfig>& nodes) {
  std::vector<lwt::Input> all;
  for (const auto& node : nodes) all.insert(all.end(), node.variables.begin(),
                                            node.variables.end());
  return all;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every file gets the same events (the same seed), so files of one network can be
// compared value by value (--values).
void load(Timed& t, std::size_t steps) {
  std::mt19937_64 rng(20231);
  std::normal_distribution<double> normal;
  std::string text = read(t.path);
  std::istringstream graph_text(text);
  if (text.find("\"nodes\"") != std::string::npos) {
    lwt::GraphConfig config = lwt::parse_json_graph(graph_text);
    for (const auto& output : config.outputs) t.outputs.push_back(output.first);
    if (t.outputs.empty()) throw std::runtime_error(t.path + " has no outputs");
    t.graph.reset(new lwt::LightweightGraph(config, t.outputs.front()));
    for (std::size_t e = 0; e < POOL; e++) {
      lwt::LightweightGraph::NodeMap nodes;
      for (const auto& node : config.inputs)
        for (const auto& v : node.variables) nodes[node.name][v.name] = normal(rng);
      lwt::LightweightGraph::SeqNodeMap sequences;
      for (const auto& node : config.input_sequences)
        for (const auto& v : node.variables)
          for (std::size_t s = 0; s < steps; s++)
            sequences[node.name][v.name].push_back(normal(rng));
      t.nodes.push_back(nodes);
      t.sequences.push_back(sequences);
    }
  } else {
    lwt::JSONConfig config = lwt::parse_json(graph_text);
    t.sequential.reset(new lwt::LightweightNeuralNetwork(config.inputs, config.layers,
                                                         config.outputs));
    t.outputs.push_back("");
    for (std::size_t e = 0; e < POOL; e++) {
      lwt::ValueMap values;
      for (const auto& v : config.inputs) values[v.name] = normal(rng);
      t.values.push_back(values);
    }
  }
}

double events(const Timed& t, std::size_t n) {
  double sink = 0;
  for (std::size_t e = 0; e < n; e++) {
    std::size_t i = e % POOL;
    if (t.graph) {
      for (const auto& output : t.outputs)
        sink += t.graph->compute(t.nodes[i], t.sequences[i], output).begin()->second;
    } else {
      sink += t.sequential->compute(t.values[i]).begin()->second;
    }
  }
  return sink;
}

double cpu_seconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec + 1e-9 * now.tv_nsec;
}

// This thread's CPU time, not wall time: on a shared machine a batch that is descheduled
// half-way does not count the other processes' share.
double seconds(const Timed& t, std::size_t n, double& sink) {
  double start = cpu_seconds();
  sink += events(t, n);
  return cpu_seconds() - start;
}

void print_values(const Timed& t) {
  std::printf("%s\n", t.path.c_str());
  for (std::size_t e = 0; e < POOL; e++) {
    for (const auto& output : t.outputs) {
      lwt::ValueMap result = t.graph ? t.graph->compute(t.nodes[e], t.sequences[e], output)
                                     : t.sequential->compute(t.values[e]);
      for (const auto& value : result)
        std::printf("  %zu\t%s\t%.17g\n", e, value.first.c_str(), value.second);
    }
  }
}

}  // namespace

int main(int argc, char* argv[]) {
  std::size_t rounds = 7, steps = 10;
  double round_ms = 20;
  bool values = false;
  std::vector<Timed> timed;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) rounds = std::stoul(argv[++i]);
    else if (arg == "--round-ms" && i + 1 < argc) round_ms = std::stod(argv[++i]);
    else if (arg == "--steps" && i + 1 < argc) steps = std::stoul(argv[++i]);
    else if (arg == "--values") values = true;
    else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "lwtnn_timing: unknown option %s\n", arg.c_str());
      return 2;
    } else {
      timed.emplace_back();
      timed.back().path = arg;
    }
  }
  if (timed.empty()) {
    std::fprintf(stderr, "usage: lwtnn_timing [--rounds N] [--round-ms MS] [--steps T] "
                         "[--values] FILE.json...\n");
    return 2;
  }
  double sink = 0;
  try {
    for (auto& t : timed) load(t, steps);
    if (values) {
      for (const auto& t : timed) print_values(t);
      return 0;
    }
    for (auto& t : timed) {  // warm-up: a batch that takes about round_ms
      double took = 0;
      while ((took = seconds(t, t.batch, sink)) < round_ms * 1e-3 / 4) t.batch *= 4;
      t.batch = std::max<std::size_t>(1, t.batch * round_ms * 1e-3 / took);
    }
    for (std::size_t r = 0; r < rounds; r++)
      for (auto& t : timed)
        t.ns_per_event.push_back(seconds(t, t.batch, sink) * 1e9 / t.batch);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "lwtnn_timing: %s\n", error.what());
    return 1;
  }
  for (auto& t : timed) {
    std::vector<double> ns = t.ns_per_event;
    std::sort(ns.begin(), ns.end());
    std::printf("%s\t%.1f\t%.1f\t%zu\n", t.path.c_str(), ns.front(), ns[ns.size() / 2],
                t.outputs.size());
  }
  std::fprintf(stderr, "(checksum %g)\n", sink);
  return 0;
}
