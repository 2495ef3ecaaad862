// The LSTM forecaster (NeuralForecast's LSTM defaults: 2 layers of 128 hidden units, a 2-layer MLP
// decoder of 128 from the last hidden state). The model itself is RecurrentForecaster
// (recurrent_forecaster.h), shared with the other recurrent cell.
#include "models/recurrent_forecaster.h"

namespace ntn::models {
namespace {

ModelInfo lstm_info() {
  ModelInfo info{"lstm",
          "LSTM encoder (stacked, carried state when streaming), MLP decoder from its last hidden state to the horizon",
          json{{"type", "lstm"}, {"input_size", 12}, {"horizon", 4}, {"encoder_hidden_size", 6},
               {"decoder_hidden_size", 8}, {"decoder_layers", 1}},
          {"point", "quantiles"},
          {"historic", "future", "static"},
          true};
  info.auto_space = json::parse(R"({"encoder_hidden_size": {"choice": [50, 100, 200, 300]}, "encoder_n_layers": {"randint": [1, 4]}})");
  return info;
}

struct LstmConfig : RecurrentConfig {
  LstmConfig() {
    type = "lstm";
    cell = nn::Cell::lstm;
    encoder_hidden_size = 128;
  }
  static LstmConfig from_json(const json& j) { return read_config<LstmConfig>(j, lstm_info()); }
};

}  // namespace

Entry lstm_entry() { return make_entry<RecurrentForecaster, LstmConfig>(lstm_info()); }

}  // namespace ntn::models
