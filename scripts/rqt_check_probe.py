"""Runs rqt (unchanged) and looks at it from inside its own process: used by scripts/rqt_check.sh.

    python scripts/rqt_check_probe.py --report R.json --png P.png [--timeout S] -- <rqt arguments>
    python scripts/rqt_check_probe.py --export F.perspective -- <rqt arguments>

rqt's own ``main()`` runs; a Qt timer started beside it waits until every rqt_plot curve of the
perspective has data and the runtime monitor lists the supervisor's status, then expands the
monitor's tree and selects that status (what a user clicks to read its values), grabs rqt's main
window to a PNG with Qt's own ``QWidget.grab()``, writes what it saw as JSON and closes rqt.
Exit status: 0 when all of that was seen, 1 otherwise (the JSON says what was missing), 2 for bad
arguments.

It also records what each rqt_plot restored from the perspective and how many topics rqt's node
had discovered at that moment: rqt_plot silently drops a saved topic its node does not know yet
(upstream rqt_plot issue #4), and in ROS 2 a freshly created node may not have finished DDS
discovery when rqt restores. With ``--reimport-after S`` a plot still empty after S seconds gets
what a user does then: Perspectives > Import of the same file (rqt's own import code).

``--export`` is how the layout of ``config/omnireset.perspective`` was made: it puts the loaded
panels in a 2 x 2 grid in a fixed-size window and writes the perspective with rqt's own exporter
(the code behind Perspectives > Export), so the file holds what rqt itself would save. The
committed file is that export less the plots' saved x/y limits (the values of that moment), with
the policy plot's y range started at [0, 0.05] s: rqt_plot only ever widens its y range, from
[0, 1] when it has no data, and the policy's times are 1-35 ms.

Needs rqt and PyQt5 on the path (scripts/rqt_check.sh installs them outside the project); the
project's tests do not import this file.
"""
import argparse
import json
import os
import sys
import time

import numpy

# Where the supervisor's DiagnosticStatus shows up (supervisor_node._publish_diagnostics).
SUPERVISOR_STATUS = "omnireset: supervisor"
# Every curve must hold this many seconds of samples (at least 10 Hz) before the grab: live data,
# not one stray message. rqt_plot shrinks its x window to 1 s when it redraws before the first
# message arrives (data_plot._merged_autoscale); the probe then widens it to this span, what a
# user does with the plot's zoom tool, so the screenshot shows the curves' history.
DATA_SECONDS = 20.0
MIN_RATE_HZ = 10.0
WINDOW_SIZE = (1440, 900)


def _parse(argv):
    if "--" in argv:
        split = argv.index("--")
        own, rqt_args = argv[:split], argv[split + 1:]
    else:
        own, rqt_args = argv, []
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--report", help="JSON file to write what was seen")
    p.add_argument("--png", help="PNG file for rqt's main window")
    p.add_argument("--export", help="write the arranged perspective here (layout mode)")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for live data")
    p.add_argument("--reimport-after", type=float, default=0.0,
                   help="if a plot still has no curves after this many seconds, import the perspective "
                        "file again (0: never)")
    args = p.parse_args(own)
    if not args.export and not (args.report and args.png):
        p.error("give --report and --png, or --export")
    return args, rqt_args


class Probe:
    def __init__(self, args, perspective_file):
        self.args = args
        self.perspective_file = perspective_file
        self.t0 = time.monotonic()
        self.perspective_manager = None
        self.result = {"ok": False, "missing": [], "plot_restores": [], "reimported": False}

    # --- what is on screen --------------------------------------------------------------------
    def _widgets(self, cls):
        from python_qt_binding.QtWidgets import QApplication
        return [w for w in QApplication.instance().allWidgets() if isinstance(w, cls)]

    def _main_window(self):
        from qt_gui.main_window import MainWindow
        wins = self._widgets(MainWindow)
        return wins[0] if wins else None

    def _docks(self):
        from python_qt_binding.QtWidgets import QDockWidget
        win = self._main_window()
        return [d for d in win.findChildren(QDockWidget) if d.isVisible()] if win else []

    def _plots(self):
        from rqt_plot.plot_widget import PlotWidget
        out = []
        for w in self._widgets(PlotWidget):
            curves = {}
            for name, curve in w.data_plot._curves.items():
                x, y = curve["x"], curve["y"]
                curves[name] = {"points": int(len(y)), "nan": int(numpy.isnan(y).sum()),
                                "seconds": float(x[-1] - x[0]) if len(x) else 0.0,
                                "last": float(y[-1]) if len(y) else None}
            out.append(curves)
        return out

    def _monitors(self):
        from rqt_runtime_monitor.runtime_monitor_widget import RuntimeMonitorWidget
        return self._widgets(RuntimeMonitorWidget)

    def _ready(self):
        plots = self._plots()
        monitors = self._monitors()
        missing = []
        if not plots:
            missing.append("no rqt_plot panel")
        for i, curves in enumerate(plots, 1):
            if not curves:
                missing.append(f"plot {i}: no curves (topics not restored)")
            for name, c in curves.items():
                if c["seconds"] < DATA_SECONDS or c["points"] < DATA_SECONDS * MIN_RATE_HZ * 0.9:
                    missing.append(f"plot {i}: {name} has {c['points']} points over {c['seconds']:.1f} s")
        if not monitors:
            missing.append("no runtime monitor panel")
        elif not any(SUPERVISOR_STATUS in m._name_to_item for m in monitors):
            missing.append(f"runtime monitor: no '{SUPERVISOR_STATUS}' status")
        return missing

    # --- the two modes ------------------------------------------------------------------------
    def record_plot_restore(self, plot, requested):
        """What rqt_plot could restore: it drops saved topics its node has not discovered yet."""
        known = {name for name, _ in plot._node.get_topic_names_and_types()}
        self.result["plot_restores"].append({
            "at_s": round(time.monotonic() - self.t0, 2),
            "saved_topics": list(requested),
            "topics_known_to_rqt_node": len(known),
            "restored": sorted(plot._widget._rosdata),
        })

    def tick(self):
        from python_qt_binding.QtCore import QTimer
        missing = self._ready()
        plots = self._plots()
        if (self.args.reimport_after and not self.result["reimported"] and plots and not all(plots)
                and time.monotonic() - self.t0 > self.args.reimport_after and self.perspective_file):
            # Perspectives > Import of the same file once the graph is discovered: what a user does
            # when the plots come up empty. A new name, as the menu asks for one when it exists.
            self.result["reimported"] = True
            self.perspective_manager.import_perspective_from_file(self.perspective_file, "omnireset (reopened)")
        waited_out = time.monotonic() - self.t0 >= self.args.timeout
        if self._main_window() is None and waited_out:
            from python_qt_binding.QtWidgets import QApplication
            self.result["missing"] = ["rqt showed no main window"]
            if self.args.report:
                with open(self.args.report, "w") as f:
                    json.dump(self.result, f, indent=2)
            QApplication.instance().quit()
            return
        if self._main_window() is None or (missing and not waited_out):
            QTimer.singleShot(500, self.tick)
            return
        if self.args.export:
            self._arrange_and_export()
        else:
            self.result["missing"] = missing
            self._widen_plots()
            self._show_supervisor_values()
            QTimer.singleShot(1500, self._grab_and_close)  # one more redraw of plots and values

    def _widen_plots(self):
        from rqt_plot.plot_widget import PlotWidget
        for w in self._widgets(PlotWidget):
            newest = max((c["x"][-1] for c in w.data_plot._curves.values() if len(c["x"])), default=None)
            if newest is not None:
                w.data_plot.set_xlim([newest - DATA_SECONDS, newest])  # autoscroll keeps this width

    def _show_supervisor_values(self):
        for m in self._monitors():
            m.tree_widget.expandAll()
            item = m._name_to_item.get(SUPERVISOR_STATUS)
            if item is not None:
                m.tree_widget.setCurrentItem(item.tree_node)
                m.splitter.setSizes([1, 1])

    def _grab_and_close(self):
        win = self._main_window()
        ok = win.grab().save(self.args.png, "PNG")
        monitors = self._monitors()
        self.result.update({
            "seconds_to_data": round(time.monotonic() - self.t0, 1),
            "window": [win.width(), win.height()],
            "panels": sorted(d.windowTitle() for d in self._docks()),
            "plots": self._plots(),
            "diagnostics": sorted(n for m in monitors for n in m._name_to_item),
            "supervisor_values": [m.html_browser.toPlainText() for m in monitors][:1],
            "png_saved": bool(ok),
        })
        self.result["ok"] = bool(ok) and not self.result["missing"]
        with open(self.args.report, "w") as f:
            json.dump(self.result, f, indent=2)
        win.close()

    def _arrange_and_export(self):
        from python_qt_binding.QtCore import Qt
        win = self._main_window()
        win.resize(*WINDOW_SIZE)
        order = ("Plot", "Plot (2)", "Runtime Monitor", "Topic Monitor")
        docks = {d.windowTitle().replace("MatPlot", "Plot"): d for d in self._docks()}
        a, b, c, d = (docks[k] for k in order)
        win.addDockWidget(Qt.LeftDockWidgetArea, a)
        win.splitDockWidget(a, b, Qt.Horizontal)
        win.splitDockWidget(a, c, Qt.Vertical)
        win.splitDockWidget(b, d, Qt.Vertical)
        win.resizeDocks([a, b], [WINDOW_SIZE[0] // 2] * 2, Qt.Horizontal)
        win.resizeDocks([a, c], [WINDOW_SIZE[1] * 3 // 5, WINDOW_SIZE[1] * 2 // 5], Qt.Vertical)
        pm = self.perspective_manager
        pm._callback = lambda path: (pm._on_export_perspective_continued(path), win.close())
        pm._callback_args = [self.args.export]
        pm.save_settings_signal.emit(pm._global_settings, pm._perspective_settings)


def main(argv):
    args, rqt_args = _parse(argv)
    perspective_file = None
    if "--perspective-file" in rqt_args[:-1]:
        perspective_file = os.path.abspath(rqt_args[rqt_args.index("--perspective-file") + 1])
    probe = Probe(args, perspective_file)

    from qt_gui import main as qt_gui_main
    from qt_gui import perspective_manager
    from python_qt_binding.QtCore import QTimer

    create_application = qt_gui_main.Main.create_application

    def create_application_and_probe(self, app_argv):
        app = create_application(self, app_argv)
        QTimer.singleShot(1000, probe.tick)
        return app
    qt_gui_main.Main.create_application = create_application_and_probe

    pm_init = perspective_manager.PerspectiveManager.__init__

    def pm_init_and_remember(self, *a, **kw):
        pm_init(self, *a, **kw)
        probe.perspective_manager = self
    perspective_manager.PerspectiveManager.__init__ = pm_init_and_remember

    from rqt_plot import plot as rqt_plot

    plot_restore = rqt_plot.Plot.restore_settings

    def plot_restore_and_record(self, plugin_settings, instance_settings):
        requested = instance_settings.value("topics", [])
        plot_restore(self, plugin_settings, instance_settings)
        probe.record_plot_restore(self, [requested] if isinstance(requested, str) else requested)
    rqt_plot.Plot.restore_settings = plot_restore_and_record

    from rqt_gui.main import Main
    sys.argv = ["rqt"] + rqt_args
    rc = Main().main()
    if args.export:
        return 0 if rc == 0 else 1
    return 0 if probe.result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
